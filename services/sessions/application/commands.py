"""Command handlers of the sessions service: load the stream, let the domain decide, append.

A handler never writes a read model: the projections (application/projections.py) catch up from
the event store, and a request that needs its own write in a view waits for the commit's
position (`Outcome.position`, `StoreProjector.wait_for`).

Private text (a meeting's agenda, its notes) is stored in the commit of the event it belongs to
(`private=`), atomically with it, never published: a crash cannot separate the text from the
event, and a retried request either finds both stored or neither.
"""
from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.aggregate import Causation, NewEvent
from shared.clock import rfc3339
from shared.errors import NotFound
from shared.eventstore import ConcurrencyError, LoadedStream
from services.sessions.domain import agreement as agreement_rules
from services.sessions.domain import engagement as engagement_rules
from services.sessions.domain import goals as goal_rules
from services.sessions.domain import meetings as rules
from services.sessions.domain.agreement import Agreement
from services.sessions.domain.decision import Decision
from services.sessions.domain.engagement import LastHeld
from services.sessions.domain.goals import Goals
from services.sessions.domain.meetings import Meeting
from services.sessions.domain.pairing import PairingInfo

log = logging.getLogger(__name__)

ATTEMPTS = 3
_IDS = uuid.UUID("0b6f1d2e-5a43-4c8e-9a51-3f0c2d7e8b14")  # namespace of ids derived from requests


# -- ports ------------------------------------------------------------------------------------

class Aggregates(Protocol):
    """shared.aggregate.AggregateStore (or an in-memory one in unit tests)."""

    def load(self, aggregate_id: str) -> LoadedStream: ...

    def append(self, aggregate_id: str, expected_version: int, new_events, causation: Causation, *,
               occurred_at: datetime | None = None, private: dict | None = None): ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class Pairings(Protocol):
    def get(self, pairing_id: str) -> PairingInfo | None: ...

    def get_cohort(self, cohort_id: str) -> dict | None: ...


def request_id(causation: Causation) -> str:
    """The request's own id (X-Request-ID; a retry repeats it), not the chain's correlation id."""
    return causation.causation_id or causation.correlation_id


@dataclass(frozen=True)
class Outcome:
    """A command's result: the meeting as it now is, and the commit to wait for (0: nothing stored).
    `texts`: the meeting's private text when the command knows it without reading the stream (a
    new meeting's agenda); None: ask `MeetingCommands.texts`."""

    meeting: Meeting
    position: int = 0
    texts: dict | None = None


def private_texts(stream: LoadedStream, legacy: dict | None = None) -> dict:
    """A meeting's private text from its commits: `agenda` (scheduling), `notes` and `notes_by` (held),
    `dispute_reason` (disputed)."""
    texts = dict(legacy or {})
    private = getattr(stream, "private", None) or {}
    for event in stream.events:
        texts.update(private.get(event.event_id) or {})
    return texts


# -- meetings ---------------------------------------------------------------------------------

class MeetingCommands:
    def __init__(self, aggregates: Aggregates, pairings: Pairings, clock: Clock, legacy_texts=None):
        self.aggregates = aggregates
        self.pairings = pairings
        self.clock = clock
        self.legacy_texts = legacy_texts

    def _load(self, meeting_id: str) -> tuple[Meeting, LoadedStream]:
        stream = self.aggregates.load(meeting_id)
        if stream.version == 0:
            raise NotFound("meeting_not_found", f"no meeting {meeting_id}")
        return rules.fold(meeting_id, stream.events), stream

    def load(self, meeting_id: str) -> Meeting:
        return self._load(meeting_id)[0]

    def texts(self, meeting_id: str) -> dict:
        """The meeting's private text (for its two parties only: the HTTP layer checks)."""
        _, stream = self._load(meeting_id)
        legacy = self.legacy_texts.get(meeting_id) if self.legacy_texts is not None else None
        return private_texts(stream, legacy)

    def _commit(self, meeting: Meeting, events: list[NewEvent], causation: Causation,
                private: dict | None = None) -> Outcome:
        if not events:
            return Outcome(meeting)
        appended = self.aggregates.append(meeting.meeting_id, meeting.version, events, causation, private=private)
        # The events just stored, applied to the state they were decided on: the stream as a reload
        # would fold it, without reading it back (three round trips for a new meeting).
        return Outcome(rules.advance(meeting, appended), getattr(appended, "position", 0))

    def schedule(self, pairing: PairingInfo, *, actor_id: str, organizer_id: str, starts_at: datetime,
                 duration_minutes: int, timezone: str, agenda: str | None, causation: Causation,
                 meeting_id: str | None = None) -> Outcome:
        """A new meeting whose id derives from the request: a retried request (same request id)
        finds the meeting its first attempt stored and gets it back, instead of a second meeting."""
        meeting_id = meeting_id or str(uuid.uuid5(_IDS, f"meeting|{pairing.pairing_id}|{request_id(causation)}"))
        stream = self.aggregates.load(meeting_id)
        if stream.version:
            return Outcome(rules.fold(meeting_id, stream.events))
        events = rules.schedule(pairing, meeting_id=meeting_id, organizer_id=organizer_id, starts_at=starts_at,
                                duration_minutes=duration_minutes, timezone=timezone, now=self.clock.now(),
                                actor_id=actor_id)
        private = {0: {"agenda": agenda}} if agenda else None
        outcome = self._commit(Meeting(meeting_id=meeting_id), events, causation, private)
        # A new stream's only text is the agenda just stored (legacy texts predate every new meeting).
        return dataclasses.replace(outcome, texts={"agenda": agenda} if agenda else {})

    def reschedule(self, meeting: Meeting, *, by: str, starts_at: datetime, duration_minutes: int | None,
                   causation: Causation, with_series: bool = False) -> Outcome:
        pairing = self.pairings.get(meeting.pairing_id)
        if pairing is None:
            raise NotFound("pairing_not_found", f"no pairing {meeting.pairing_id} is known")
        events = rules.reschedule(meeting, pairing, by=by, starts_at=starts_at, duration_minutes=duration_minutes,
                                  now=self.clock.now(), with_series=with_series)
        return self._commit(meeting, events, causation)

    def cancel(self, meeting: Meeting, *, by: str, reason: str, causation: Causation) -> Outcome:
        return self._commit(meeting, rules.cancel(meeting, by=by, reason=reason), causation)

    def complete(self, meeting: Meeting, *, by: str, held_at: datetime | None, duration_minutes: int | None,
                 attendees: list[str] | None, notes: str | None, causation: Causation) -> Outcome:
        if meeting.status == "held" and self._same_completion(meeting, held_at, duration_minutes, attendees, notes):
            return Outcome(meeting)  # a retry of a stored request: the same answer, not a refusal
        events = rules.complete(meeting, by=by, now=self.clock.now(), held_at=held_at,
                                duration_minutes=duration_minutes, attendees=attendees)
        private = {0: {"notes": notes, "notes_by": by}} if notes else None
        return self._commit(meeting, events, causation, private)

    def _same_completion(self, meeting: Meeting, held_at, duration_minutes, attendees, notes) -> bool:
        return (meeting.held_at == (held_at or meeting.starts_at)
                and meeting.held_minutes == (duration_minutes if duration_minutes is not None else meeting.duration_minutes)
                and list(meeting.attendees) == (list(attendees) if attendees is not None else list(meeting.parties))
                and self.texts(meeting.meeting_id).get("notes") == (notes or None))

    def no_show(self, meeting: Meeting, *, by: str, absent_ids: list[str], causation: Causation) -> Outcome:
        events = rules.no_show(meeting, by=by, absent_ids=absent_ids, now=self.clock.now())
        return self._commit(meeting, events, causation)

    def dispute(self, meeting: Meeting, *, by: str, reason: str, causation: Causation) -> Outcome:
        """The reason is free text: stored in the commit's private part, like notes."""
        if meeting.disputed_by == by and self.texts(meeting.meeting_id).get("dispute_reason") == reason:
            return Outcome(meeting)  # a retry of a stored request: the same answer, not a 409
        events = rules.dispute(meeting, by=by, now=self.clock.now())
        return self._commit(meeting, events, causation, {0: {"dispute_reason": reason}})

    def cancel_for_ended_pairing(self, meeting_id: str, *, ended_at: datetime, causation: Causation) -> bool:
        """Cancel one meeting of an ended pairing if it is still to come; True if it was cancelled.

        Idempotent: a cancelled, held or past meeting produces no event; a concurrent change is
        retried on the reloaded stream.
        """
        for attempt in range(ATTEMPTS):
            meeting = self.load(meeting_id)
            events = rules.cancel_for_ended_pairing(meeting, ended_at=ended_at)
            if not events:
                return False
            try:
                self._commit(meeting, events, causation)
                return True
            except ConcurrencyError:
                if attempt == ATTEMPTS - 1:
                    raise
        return False


# -- goals ------------------------------------------------------------------------------------

class GoalCommands:
    def __init__(self, aggregates: Aggregates):
        self.aggregates = aggregates

    def current(self, pairing_id: str) -> Goals:
        stream = self.aggregates.load(pairing_id)
        return goal_rules.fold(stream.events, stream.private)

    def revise(self, pairing: PairingInfo, *, expected_revision: int, goals: list[dict], by: str,
               causation: Causation) -> Goals:
        def decide(state: Goals) -> Decision:
            if causation.causation_id and state.revision_request == causation.causation_id:
                return Decision()  # a retry of the request that stored the current revision: its answer
            return goal_rules.revise(state, pairing, expected_revision=expected_revision, goals=goals, by=by)
        return self._decide(pairing, causation, decide)

    def achieve(self, pairing: PairingInfo, *, goal_id: str, by: str, causation: Causation) -> Goals:
        """Mark one goal achieved in a new revision (GoalAchieved); an achieved goal stays as it is."""
        return self._decide(pairing, causation, lambda state: goal_rules.achieve(state, pairing, goal_id=goal_id, by=by))

    def _decide(self, pairing: PairingInfo, causation: Causation, decide) -> Goals:
        # The stream is shared with engagement and agreement events: a conflict with one of those is
        # retried on the reloaded stream, where a really stale revision still gets its 409.
        for attempt in range(ATTEMPTS):
            stream = self.aggregates.load(pairing.pairing_id)
            decision: Decision = decide(goal_rules.fold(stream.events, stream.private))
            if not decision:
                return self.current(pairing.pairing_id)
            try:
                self.aggregates.append(pairing.pairing_id, stream.version, decision, causation,
                                       private=decision.private)
            except ConcurrencyError:
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            return self.current(pairing.pairing_id)
        raise ConcurrencyError(pairing.pairing_id, -1)


# -- agreement --------------------------------------------------------------------------------

@dataclass(frozen=True)
class AgreementOutcome:
    """The agreement as it now is, and the commit to wait for (0: nothing stored)."""

    agreement: Agreement
    position: int = 0


class AgreementCommands:
    """Revise and confirm a pairing's agreement (domain/agreement.py), on the pairing's stream."""

    def __init__(self, aggregates: Aggregates, clock: Clock):
        self.aggregates = aggregates
        self.clock = clock

    def current(self, pairing_id: str) -> Agreement:
        stream = self.aggregates.load(pairing_id)
        return agreement_rules.fold(stream.events, stream.private)

    def revise(self, pairing: PairingInfo, *, expected_revision: int, by: str, cadence_days: int, channel: str,
               confidentiality: str, expectations: list[str] | None, causation: Causation) -> AgreementOutcome:
        def decide(state: Agreement) -> Decision:
            if causation.causation_id and state.revision_request == causation.causation_id:
                return Decision()  # a retry of the request that stored the current revision: its answer
            return agreement_rules.revise(state, pairing, expected_revision=expected_revision, by=by,
                                          cadence_days=cadence_days, channel=channel,
                                          confidentiality=confidentiality, expectations=expectations)
        return self._decide(pairing, causation, decide)

    def confirm(self, pairing: PairingInfo, *, by: str, revision: int | None, causation: Causation) -> AgreementOutcome:
        return self._decide(pairing, causation, lambda state: agreement_rules.confirm(
            state, pairing, by=by, revision=revision, now=self.clock.now()))

    def _decide(self, pairing: PairingInfo, causation: Causation, decide) -> AgreementOutcome:
        # Shared stream (goals, engagement): a conflict with their events is retried on the
        # reloaded stream; the agreement's own revision guard still decides staleness.
        for attempt in range(ATTEMPTS):
            stream = self.aggregates.load(pairing.pairing_id)
            decision: Decision = decide(agreement_rules.fold(stream.events, stream.private))
            if not decision:
                return AgreementOutcome(agreement_rules.fold(stream.events, stream.private))
            try:
                appended = self.aggregates.append(pairing.pairing_id, stream.version, decision, causation,
                                                  private=decision.private)
            except ConcurrencyError:
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            return AgreementOutcome(self.current(pairing.pairing_id), getattr(appended, "position", 0))
        raise ConcurrencyError(pairing.pairing_id, -1)


# -- engagement -------------------------------------------------------------------------------

class EngagementCommands:
    """Announce a pairing at risk, or back on track, once per transition (decided on its stream)."""

    def __init__(self, aggregates: Aggregates, clock: Clock):
        self.aggregates = aggregates
        self.clock = clock

    def assess(self, pairing: PairingInfo, cadence_days: int, last_held: LastHeld | None, now: datetime,
               causation: Causation) -> bool:
        """Append the transition there is (if any); returns whether the pairing is now at risk."""
        for attempt in range(ATTEMPTS):
            stream = self.aggregates.load(pairing.pairing_id)
            state = engagement_rules.fold(stream.events)
            events = engagement_rules.assess(state, pairing, cadence_days, last_held, now)
            if not events:
                return state.at_risk
            try:
                self.aggregates.append(pairing.pairing_id, stream.version, events, causation, occurred_at=now)
            except ConcurrencyError:
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            return engagement_rules.fold(self.aggregates.load(pairing.pairing_id).events).at_risk
        return False


def job_causation(name: str, now: datetime) -> Causation:
    return Causation(correlation_id=f"{name}-{rfc3339(now)}", causation_id=None)
