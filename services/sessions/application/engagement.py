"""Cadence and risk over all active pairings, the cohort engagement report, and the gauges.

`check_all(now)` is the periodic job (shared.worker.PeriodicJob in the worker; tests call it
with a ManualClock's time). It announces each lapse once and each recovery once; between
transitions it writes nothing.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from shared.aggregate import AggregateStore, Causation
from shared.clock import parse_rfc3339, rfc3339
from shared.eventstore import ConcurrencyError
from shared.metrics import PAIRINGS_ACTIVE, PAIRS_AT_RISK
from services.sessions.adapters.repositories import EngagementHints, MeetingsView, PairingsRepository
from services.sessions.domain import engagement as rules
from services.sessions.domain.engagement import LastHeld
from services.sessions.domain.pairing import PairingInfo

log = logging.getLogger(__name__)

ATTEMPTS = 3


class EngagementService:
    def __init__(self, aggregates: AggregateStore, pairings: PairingsRepository, meetings: MeetingsView,
                 hints: EngagementHints, clock):
        self.aggregates = aggregates
        self.pairings = pairings
        self.meetings = meetings
        self.hints = hints
        self.clock = clock

    def cadence_days(self, cohort_id: str) -> int:
        cohort = self.pairings.get_cohort(cohort_id)
        return int(cohort["meeting_cadence_days"]) if cohort else rules.DEFAULT_CADENCE_DAYS

    def _held_by_pairing(self, cohort_id: str) -> dict[str, list[dict]]:
        held: dict[str, list[dict]] = defaultdict(list)
        for doc in self.meetings.held_in_cohort(cohort_id):
            held[doc["pairing_id"]].append(doc)
        return held

    @staticmethod
    def _last_held(docs: list[dict]) -> LastHeld | None:
        if not docs:
            return None
        last = max(docs, key=lambda d: (d["held_at"], d["_id"]))
        return LastHeld(meeting_id=last["_id"], held_at=parse_rfc3339(last["held_at"]))

    def assess(self, pairing: PairingInfo, cadence_days: int, last_held: LastHeld | None, now: datetime,
               causation: Causation) -> bool:
        """Decide on the loaded stream and append a transition if there is one; returns at_risk."""
        for attempt in range(ATTEMPTS):
            stream = self.aggregates.load(pairing.pairing_id)
            state = rules.fold(stream.events)
            events = rules.assess(state, pairing, cadence_days, last_held, now)
            if events:
                try:
                    self.aggregates.append(pairing.pairing_id, stream.version, events, causation, occurred_at=now)
                except ConcurrencyError:
                    if attempt == ATTEMPTS - 1:
                        raise
                    continue
                state = rules.fold(list(stream.events) + [_Applied(e.event_type, e.data) for e in events])
            self.hints.set(pairing.pairing_id, state.at_risk)
            return state.at_risk
        return False

    def after_meeting_held(self, meeting, causation: Causation) -> None:
        pairing = self.pairings.get(meeting.pairing_id)
        if pairing is None or not pairing.is_active or not self.hints.at_risk(pairing.pairing_id):
            return
        last = self._last_held(self._held_by_pairing(pairing.cohort_id).get(pairing.pairing_id, []))
        self.assess(pairing, self.cadence_days(pairing.cohort_id), last, self.clock.now(), causation)

    def check_all(self, now: datetime | None = None) -> dict[str, int]:
        """One pass over every active pairing; returns at-risk counts per cohort."""
        now = now or self.clock.now()
        causation = Causation(correlation_id=f"risk-check-{rfc3339(now)}", causation_id=None)
        by_cohort: dict[str, list[PairingInfo]] = defaultdict(list)
        for pairing in self.pairings.active():
            by_cohort[pairing.cohort_id].append(pairing)
        at_risk_counts = {}
        for cohort_id, pairings in by_cohort.items():
            cadence = self.cadence_days(cohort_id)
            held = self._held_by_pairing(cohort_id)
            count = 0
            for pairing in pairings:
                last = self._last_held(held.get(pairing.pairing_id, []))
                lapsed = rules.is_lapsed(pairing, cadence, last, now)
                at_risk = self.hints.at_risk(pairing.pairing_id)
                if lapsed != at_risk:
                    try:
                        at_risk = self.assess(pairing, cadence, last, now, causation)
                    except ConcurrencyError:
                        log.warning("risk check: pairing %s kept changing; next pass retries", pairing.pairing_id)
                count += int(at_risk)
            at_risk_counts[cohort_id] = count
            PAIRS_AT_RISK.labels(cohort_id).set(count)
            PAIRINGS_ACTIVE.labels(cohort_id).set(len(pairings))
        return at_risk_counts

    def cohort_report(self, cohort_id: str, now: datetime | None = None) -> dict | None:
        now = now or self.clock.now()
        cohort = self.pairings.get_cohort(cohort_id)
        pairings = [p for p in self.pairings.of_cohort(cohort_id) if p.is_active]
        if cohort is None and not pairings:
            return None
        cadence = self.cadence_days(cohort_id)
        held = self._held_by_pairing(cohort_id)
        items = []
        counts = {rules.ON_TRACK: 0, rules.NEEDS_CHECK_IN: 0, rules.AT_RISK: 0, rules.TOO_EARLY: 0}
        total_held = 0
        total_minutes = 0
        total_weeks = 0.0
        for pairing in sorted(pairings, key=lambda p: p.pairing_id):
            docs = held.get(pairing.pairing_id, [])
            last = self._last_held(docs)
            status = rules.classify(pairing, cadence, last, now)
            counts[status] += 1
            minutes = sum(int(d.get("held_minutes") or 0) for d in docs)
            weeks = max(1.0, (now - (pairing.activated_at or now)) / timedelta(weeks=1))
            total_held += len(docs)
            total_minutes += minutes
            total_weeks += weeks
            items.append({
                "pairing_id": pairing.pairing_id, "mentor_id": pairing.mentor_id, "mentee_id": pairing.mentee_id,
                "status": status, "last_meeting_at": rfc3339(last.held_at) if last else None,
                "meetings_held": len(docs), "meetings_per_week": round(len(docs) / weeks, 2),
                "mentoring_hours": round(minutes / 60, 2),
            })
        PAIRS_AT_RISK.labels(cohort_id).set(counts[rules.AT_RISK])
        PAIRINGS_ACTIVE.labels(cohort_id).set(len(pairings))
        summary = dict(counts, pairs=len(pairings), meetings_held=total_held,
                       meetings_per_week=round(total_held / total_weeks, 2) if total_weeks else 0.0,
                       mentoring_hours=round(total_minutes / 60, 2))
        return {"cohort_id": cohort_id, "cadence_days": cadence, "as_of": rfc3339(now), "summary": summary,
                "items": items, "next": None}


class _Applied:
    """A just-decided event in the shape `fold` reads (type and data)."""

    def __init__(self, event_type: str, data: dict):
        self.event_type = event_type
        self.data = data
