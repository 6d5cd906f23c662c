"""The cohort engagement report computed by scanning the sessions views, as the service served it
before the engagement roster: the reference the tests hold `roster_report` to (unit tests on the
in-memory database, integration tests on the real server)."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from shared.clock import rfc3339
from services.sessions.adapters.mongo import AgreementsRepository, MeetingsRepository, PairingsRepository, to_info
from services.sessions.application.queries import cadence_days, engagement_report, last_held
from services.sessions.domain.roster import PairStats


def cohort_report(pairings: PairingsRepository, meetings: MeetingsRepository, cohort_id: str,
                  now: datetime, agreements: AgreementsRepository | None = None) -> dict | None:
    cohort = pairings.get_cohort(cohort_id)
    active = [p for p in map(to_info, pairings.pairings.find({"cohort_id": cohort_id})) if p.is_active]
    if cohort is None and not active:
        return None
    agreed = ({d["_id"]: int(d["cadence_days"]) for d in agreements.collection.find({"cohort_id": cohort_id})}
              if agreements is not None else {})
    held: dict[str, list[dict]] = defaultdict(list)
    for doc in meetings.collection.find({"cohort_id": cohort_id}):
        if doc.get("status") == "held" and not doc.get("disputed"):  # a disputed record does not count
            held[doc["pairing_id"]].append(doc)
    stats = {}
    for pairing in active:
        docs = held.get(pairing.pairing_id, [])
        last = last_held(docs)
        stats[pairing.pairing_id] = PairStats(len(docs), sum(int(d.get("held_minutes") or 0) for d in docs),
                                              rfc3339(last.held_at) if last else None,
                                              agreed.get(pairing.pairing_id))
    return engagement_report(cohort_id, cadence_days(pairings, cohort_id), active, stats, now)
