"""Reactions of the sessions service: to other services' events, to its own, and to time.

Policies are `Projection`s with no collections of their own (a rebuild never replays them) and
side effects that are commands: each decides on the loaded stream, so running one twice (a
redelivery, a crash before the offset or checkpoint moved) appends nothing the second time.

- `CancelMeetingsWhenPairingEnds` (mentoring.matching.v1, PairingEnded): the pairing's meetings
  still to come are cancelled (reason `pairing_ended`). The same for a completed pairing (its
  cohort closed) once a party says no to staying in touch (StayInTouchChosen `stay_in_touch:
  false`): until then its meetings are kept (domain/pairing.py says the rule).
- `BackOnTrackWhenMeetingHeld` (own store, MeetingHeld): a held meeting that ends a lapse
  announces `PairingBackOnTrack`. It runs in the store projector after the meetings and
  engagement views, which therefore already include every commit before this one.
- `RiskCheck` (periodic): announces each lapse once (`PairingAtRisk`), and sweeps up meetings
  of ended pairings that a lagging view hid from the first policy.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from shared import topics
from shared.aggregate import Causation
from shared.clock import parse_rfc3339
from shared.consumer import Projection
from shared.eventstore import ConcurrencyError
from shared.events.catalog.matching import PAIRING_ENDED, STAY_IN_TOUCH_CHOSEN
from shared.events.catalog.sessions import MEETING_HELD
from shared.events.envelope import Envelope
from shared.metrics import PAIRINGS_ACTIVE, PAIRS_AT_RISK
from services.sessions.adapters.mongo import (
    AgreementsRepository, EngagementRepository, MeetingsRepository, PairingsRepository,
)
from services.sessions.adapters.roster import RosterMeetings
from services.sessions.application.commands import EngagementCommands, MeetingCommands, job_causation
from services.sessions.application.queries import cadence_days, held_of_pairing, last_held, pairing_cadence
from services.sessions.domain import engagement as rules
from services.sessions.domain.engagement import LastHeld

log = logging.getLogger(__name__)


class CancelMeetingsWhenPairingEnds(Projection):
    name = "sessions-cancel-meetings-of-ended-pairings"
    topics = (topics.MATCHING,)
    collections = ()

    def __init__(self, meetings: MeetingsRepository, commands: MeetingCommands,
                 settle: Callable[[], object] = lambda: None, pairings: PairingsRepository | None = None):
        self.meetings = meetings
        self.commands = commands
        self.pairings = pairings  # what the pair chose since (a late "no" after both said yes cancels nothing)
        # Lets the meetings view catch up with the store first (the worker's store projector);
        # whatever it still misses, the periodic sweep (RiskCheck) cancels.
        self.settle = settle

    def handlers(self):
        return {PAIRING_ENDED: self.pairing_ended, STAY_IN_TOUCH_CHOSEN: self.stay_in_touch_chosen}

    def reset(self) -> None:
        pass  # no data of its own

    def pairing_ended(self, envelope: Envelope) -> None:
        self.settle()
        ended_at = parse_rfc3339(envelope.occurred_at)
        causation = Causation.from_event(envelope)
        for doc in self.meetings.for_pairing(envelope.data["pairing_id"]):
            if doc.get("status") == "scheduled":
                self.commands.cancel_for_ended_pairing(doc["_id"], ended_at=ended_at, causation=causation)

    def stay_in_touch_chosen(self, envelope: Envelope) -> None:
        """A party of a completed pairing said no: its meetings still to come are cancelled, unless
        the pairings view (fed before this policy) already shows the pair staying in touch again."""
        if envelope.data["stay_in_touch"] or envelope.data["staying_in_touch"]:
            return
        pairing = self.pairings.get(envelope.data["pairing_id"]) if self.pairings is not None else None
        if pairing is not None and pairing.staying_in_touch:
            return
        self.pairing_ended(envelope)


class BackOnTrackWhenMeetingHeld(Projection):
    name = "sessions-back-on-track"
    topics = ()
    collections = ()

    def __init__(self, pairings: PairingsRepository, meetings: MeetingsRepository, engagement: EngagementRepository,
                 commands: EngagementCommands, clock, agreements: AgreementsRepository | None = None):
        self.pairings = pairings
        self.meetings = meetings
        self.engagement = engagement
        self.commands = commands
        self.clock = clock
        self.agreements = agreements

    def handlers(self):
        return {MEETING_HELD: self.meeting_held}

    def reset(self) -> None:
        pass

    def meeting_held(self, envelope: Envelope) -> None:
        data = envelope.data
        pairing = self.pairings.get(data["pairing_id"])
        if pairing is None or not pairing.is_active or not self.engagement.at_risk(pairing.pairing_id):
            return
        this: LastHeld | None = LastHeld(meeting_id=data["meeting_id"], held_at=parse_rfc3339(data["held_at"]))
        if (self.meetings.get(data["meeting_id"]) or {}).get("disputed"):
            this = None  # disputed since (a replay): it does not count as held
        known = last_held(held_of_pairing(self.meetings, pairing.pairing_id))
        candidates = [h for h in (this, known) if h is not None]
        if not candidates:
            return
        last = max(candidates, key=lambda h: (h.held_at, h.meeting_id))
        self.commands.assess(pairing, pairing_cadence(self.pairings, self.agreements, pairing), last,
                             self.clock.now(), Causation.from_event(envelope))


class RiskCheck:
    """The periodic pass over every active pairing (a worker job; tests call it with a ManualClock's time)."""

    def __init__(self, pairings: PairingsRepository, meetings: MeetingsRepository, engagement: EngagementRepository,
                 commands: EngagementCommands, meeting_commands: MeetingCommands, clock, roster: RosterMeetings):
        self.pairings = pairings
        self.meetings = meetings
        self.engagement = engagement
        self.commands = commands
        self.meeting_commands = meeting_commands
        self.clock = clock
        # Per cohort, one `_id` read: each pairing's last held (undisputed) meeting and the cadence
        # its parties confirmed, which wins over the cohort's. It replaced two scans per cohort (every
        # meeting, every agreement) on FerretDB v1.
        self.roster = roster

    def run(self, now: datetime | None = None) -> dict[str, int]:
        counts = self.check_all(now)
        self.sweep_ended_pairings(now)
        return counts

    def check_all(self, now: datetime | None = None) -> dict[str, int]:
        """Announce lapses and recoveries; returns at-risk counts per cohort."""
        now = now or self.clock.now()
        causation = job_causation("risk-check", now)
        by_cohort: dict[str, list] = {}
        for pairing in self.pairings.active():
            by_cohort.setdefault(pairing.cohort_id, []).append(pairing)
        at_risk_counts = {}
        for cohort_id, pairings in by_cohort.items():
            cohort_cadence = cadence_days(self.pairings, cohort_id)
            stats = self.roster.stats(cohort_id)
            count = 0
            for pairing in pairings:
                known = stats.get(pairing.pairing_id)
                cadence = known.agreed_cadence if known and known.agreed_cadence else cohort_cadence
                held_at = known.last_held_at if known else None
                last = LastHeld(meeting_id="", held_at=parse_rfc3339(held_at)) if held_at else None
                lapsed = rules.is_lapsed(pairing, cadence, last, now)
                at_risk = self.engagement.at_risk(pairing.pairing_id)
                if lapsed != at_risk:  # the view is a hint: the decision is taken on the stream
                    last = last_held(held_of_pairing(self.meetings, pairing.pairing_id))  # with its meeting id
                    try:
                        at_risk = self.commands.assess(pairing, cadence, last, now, causation)
                    except ConcurrencyError:
                        log.warning("risk check: pairing %s kept changing; next pass retries", pairing.pairing_id)
                count += int(at_risk)
            at_risk_counts[cohort_id] = count
            PAIRS_AT_RISK.labels(cohort_id).set(count)
            PAIRINGS_ACTIVE.labels(cohort_id).set(len(pairings))
        return at_risk_counts

    def sweep_ended_pairings(self, now: datetime | None = None) -> int:
        """Cancel scheduled meetings of ended pairings that start after the end, and of completed
        ones a party said no to staying in touch with (idempotent)."""
        now = now or self.clock.now()
        cancelled = 0
        for doc in self.meetings.scheduled():
            pairing = self.pairings.get(doc["pairing_id"])
            end = pairing.meetings_end_at if pairing is not None else None
            if end is None:
                continue
            try:
                cancelled += self.meeting_commands.cancel_for_ended_pairing(
                    doc["_id"], ended_at=end, causation=job_causation("ended-pairing-sweep", now))
            except ConcurrencyError:
                log.warning("sweep: meeting %s kept changing; next pass retries", doc["_id"])
        return cancelled
