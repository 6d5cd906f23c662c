"""Reads over the sessions read models: cadence, last held meetings, the cohort engagement report.

The report reads the engagement roster (`roster_report`: a few `_id` reads, domain/roster.py).
The tests hold it to the same report computed by scanning the views, as it was served before the
roster (tests/sessions_scanning_report.py; FerretDB v1 scans any filter but `{_id: string}`).

Cadence: a pairing whose two parties confirmed an agreement (AgreementConfirmed) is held to the
cadence they agreed to; every other pairing to its cohort's (which CohortRevised may change).

Disputed meetings (MeetingDisputed): a held meeting the other party disputes does not count as
held anywhere here: not for the cadence and the risk clock (`last_held`), not in the report's
meetings, meetings per week or hours. Chosen because the dispute says the meeting may not have
happened, and there is no resolution step yet: counting it would let one party keep a lapsed pair
"on track" alone. The held record itself stays in the stream; a disputed no-show never counted.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from shared.clock import parse_rfc3339, rfc3339
from shared.metrics import PAIRINGS_ACTIVE, PAIRS_AT_RISK
from services.sessions.adapters.mongo import AgreementsRepository, MeetingsRepository, PairingsRepository
from services.sessions.adapters.roster import RosterMeetings, RosterPairs
from services.sessions.domain import engagement as rules
from services.sessions.domain.engagement import LastHeld
from services.sessions.domain.pairing import PairingInfo
from services.sessions.domain.roster import PairStats

ROSTER_READERS = 6  # the report's `_id` reads at once: the cohort, its meetings part, WINDOW partitions


def cadence_days(pairings: PairingsRepository, cohort_id: str) -> int:
    cohort = pairings.get_cohort(cohort_id)
    return int(cohort["meeting_cadence_days"]) if cohort else rules.DEFAULT_CADENCE_DAYS


def pairing_cadence(pairings: PairingsRepository, agreements: AgreementsRepository | None,
                    pairing: PairingInfo) -> int:
    """One pairing's cadence: its confirmed agreement's, else its cohort's."""
    agreed = agreements.cadence_of(pairing.pairing_id) if agreements is not None else None
    return agreed or cadence_days(pairings, pairing.cohort_id)


def held_of_pairing(meetings: MeetingsRepository, pairing_id: str) -> list[dict]:
    """The pairing's held, undisputed meetings (one `_id` read of its meetings list)."""
    return [d for d in meetings.for_pairing(pairing_id) if d.get("status") == "held" and not d.get("disputed")]


def last_held(docs: list[dict]) -> LastHeld | None:
    if not docs:
        return None
    last = max(docs, key=lambda d: (d["held_at"], d["_id"]))
    return LastHeld(meeting_id=last["_id"], held_at=parse_rfc3339(last["held_at"]))


def engagement_report(cohort_id: str, cadence: int, active: list[PairingInfo], stats: dict[str, PairStats],
                      now: datetime) -> dict:
    """Each active pair as on track / needs check-in / at risk / too early, with meetings and hours
    (each measured against its own cadence: agreed, else the cohort's)."""
    items = []
    counts = {rules.ON_TRACK: 0, rules.NEEDS_CHECK_IN: 0, rules.AT_RISK: 0, rules.TOO_EARLY: 0}
    total_held = total_minutes = 0
    total_weeks = 0.0
    none = PairStats()
    for pairing in sorted(active, key=lambda p: p.pairing_id):
        pair = stats.get(pairing.pairing_id, none)
        last = LastHeld("", parse_rfc3339(pair.last_held_at)) if pair.last_held_at else None
        own_cadence = pair.agreed_cadence if pair.agreed_cadence is not None else cadence
        status = rules.classify(pairing, own_cadence, last, now)
        counts[status] += 1
        weeks = max(1.0, (now - (pairing.activated_at or now)) / timedelta(weeks=1))
        total_held += pair.meetings_held
        total_minutes += pair.minutes
        total_weeks += weeks
        items.append({
            "pairing_id": pairing.pairing_id, "mentor_id": pairing.mentor_id, "mentee_id": pairing.mentee_id,
            "status": status, "last_meeting_at": rfc3339(last.held_at) if last else None,
            "meetings_held": pair.meetings_held, "meetings_per_week": round(pair.meetings_held / weeks, 2),
            "mentoring_hours": round(pair.minutes / 60, 2), "cadence_days": own_cadence,
            "cadence_agreed": pair.agreed_cadence is not None,
        })
    PAIRS_AT_RISK.labels(cohort_id).set(counts[rules.AT_RISK])
    PAIRINGS_ACTIVE.labels(cohort_id).set(len(active))
    summary = dict(counts, pairs=len(active), meetings_held=total_held,
                   meetings_per_week=round(total_held / total_weeks, 2) if total_weeks else 0.0,
                   mentoring_hours=round(total_minutes / 60, 2))
    return {"cohort_id": cohort_id, "cadence_days": cadence, "as_of": rfc3339(now), "summary": summary,
            "items": items, "next": None}


def roster_report(pairings: PairingsRepository, roster_pairs: RosterPairs, roster_meetings: RosterMeetings,
                  cohort_id: str, now: datetime) -> dict | None:
    """The cohort engagement report from the engagement roster: `_id` reads only (the cohort, one
    document per partition of matching's topic, the cohort's meeting summaries); None: no such cohort."""
    # side by side: each read is a round trip, and on a busy machine the wait is most of the cost
    with ThreadPoolExecutor(ROSTER_READERS) as pool:
        cohort_read = pool.submit(pairings.get_cohort, cohort_id)
        stats_read = pool.submit(roster_meetings.stats, cohort_id)
        roster = roster_pairs.active(cohort_id, read=pool.map)
        cohort, stats = cohort_read.result(), stats_read.result()
    active = [PairingInfo(pairing_id, cohort_id, pair.mentor_id, pair.mentee_id, "active",
                          activated_at=parse_rfc3339(pair.activated_at) if pair.activated_at else None)
              for pairing_id, pair in roster.items()]
    if cohort is None and not active:
        return None
    cadence = int(cohort["meeting_cadence_days"]) if cohort else rules.DEFAULT_CADENCE_DAYS
    return engagement_report(cohort_id, cadence, active, stats, now)
