"""Meeting commands: load the meeting's stream, let the domain decide, append, refresh the view."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime

from shared.aggregate import AggregateStore, Causation
from shared.clock import parse_rfc3339
from shared.events.envelope import Envelope
from services.sessions.adapters.repositories import MeetingsView, MeetingTextsRepository, PairingsRepository
from services.sessions.domain import meetings as rules
from services.sessions.domain.meetings import Meeting
from services.sessions.domain.pairing import PairingInfo

log = logging.getLogger(__name__)


class MeetingNotFound(Exception):
    pass


class MeetingService:
    def __init__(self, aggregates: AggregateStore, view: MeetingsView, texts: MeetingTextsRepository,
                 pairings: PairingsRepository, clock, after_held=None):
        self.aggregates = aggregates
        self.view = view
        self.texts = texts
        self.pairings = pairings
        self.clock = clock
        # Called with the meeting after it was recorded as held (engagement: back on track).
        self.after_held = after_held

    def load(self, meeting_id: str) -> Meeting:
        stream = self.aggregates.load(meeting_id)
        if stream.version == 0:
            raise MeetingNotFound(meeting_id)
        return rules.fold(meeting_id, stream.events)

    def _commit(self, meeting: Meeting, events, causation: Causation) -> Meeting:
        if not events:
            return meeting
        self.aggregates.append(meeting.meeting_id, meeting.version, events, causation)
        updated = self.load(meeting.meeting_id)
        self.view.save(updated)
        return updated

    def schedule(self, pairing: PairingInfo, *, organizer_id: str, starts_at: datetime, duration_minutes: int,
                 timezone: str, agenda: str | None, causation: Causation) -> Meeting:
        meeting_id = str(uuid.uuid4())
        events = rules.schedule(pairing, meeting_id=meeting_id, organizer_id=organizer_id, starts_at=starts_at,
                                duration_minutes=duration_minutes, timezone=timezone, now=self.clock.now())
        if agenda:
            self.texts.set(meeting_id, agenda=agenda)
        return self._commit(Meeting(meeting_id=meeting_id), events, causation)

    def reschedule(self, meeting: Meeting, *, by: str, starts_at: datetime, duration_minutes: int | None,
                   causation: Causation) -> Meeting:
        pairing = self.pairings.get(meeting.pairing_id)
        events = rules.reschedule(meeting, pairing, by=by, starts_at=starts_at, duration_minutes=duration_minutes,
                                  now=self.clock.now())
        return self._commit(meeting, events, causation)

    def cancel(self, meeting: Meeting, *, by: str, reason: str, causation: Causation) -> Meeting:
        return self._commit(meeting, rules.cancel(meeting, by=by, reason=reason), causation)

    def complete(self, meeting: Meeting, *, by: str, held_at: datetime | None, duration_minutes: int | None,
                 attendees: list[str] | None, notes: str | None, causation: Causation) -> Meeting:
        events = rules.complete(meeting, by=by, now=self.clock.now(), held_at=held_at,
                                duration_minutes=duration_minutes, attendees=attendees)
        updated = self._commit(meeting, events, causation)
        if notes:
            self.texts.set(meeting.meeting_id, notes=notes, notes_by=by)
        if self.after_held is not None:
            try:
                self.after_held(updated, causation)
            except Exception:  # noqa: BLE001 - the periodic check catches up with what this missed
                log.exception("engagement update after meeting %s failed", updated.meeting_id)
        return updated

    def no_show(self, meeting: Meeting, *, by: str, absent_ids: list[str], causation: Causation) -> Meeting:
        events = rules.no_show(meeting, by=by, absent_ids=absent_ids, now=self.clock.now())
        return self._commit(meeting, events, causation)

    def cancel_for_ended_pairing(self, envelope: Envelope) -> int:
        """Worker command on `PairingEnded`: cancel the pairing's meetings still to come.

        Idempotent: meetings already cancelled (or held, or past) produce no event, so a
        redelivered or replayed `PairingEnded` changes nothing.
        """
        ended_at = parse_rfc3339(envelope.occurred_at)
        causation = Causation.from_event(envelope)
        cancelled = 0
        for doc in self.view.for_pairing(envelope.data["pairing_id"]):
            meeting = self.load(doc["_id"])
            events = rules.cancel_for_ended_pairing(meeting, ended_at=ended_at)
            if events:
                self._commit(meeting, events, causation)
                cancelled += 1
        return cancelled
