"""Recurring meetings (issue 15): schedule a series, read it, move or cancel what is still to come.

Ids derive from the request (like a single meeting's): the series from the request id, each
occurrence from the series id and its index, so a retried request finds what its first attempt
stored and completes it rather than scheduling a second series. The series' commit is stored
first and the occurrences after it (`append_many`, one insert); an occurrence already stored is
left as it is. Changes to the whole series are the single-meeting commands applied to each
occurrence still to come (one occurrence alone: the meeting routes, as before).
"""
from __future__ import annotations

import uuid
from datetime import datetime

from shared.aggregate import Causation
from shared.errors import NotFound
from shared.eventstore import ConcurrencyError
from services.sessions.application.commands import _IDS, MeetingCommands, Outcome, request_id
from services.sessions.domain import series as rules
from services.sessions.domain.meetings import Meeting
from services.sessions.domain.pairing import PairingInfo
from services.sessions.domain.series import Series


def series_stream(series_id: str) -> str:
    return f"series|{series_id}"


class SeriesCommands:
    def __init__(self, aggregates, meetings: MeetingCommands, meeting_aggregates, clock):
        self.aggregates = aggregates  # AggregateStore of `meeting-series`
        self.meetings = meetings
        self.meeting_aggregates = meeting_aggregates  # AggregateStore of `meeting` (sealing agendas)
        self.clock = clock

    def load(self, series_id: str) -> Series:
        stream = self.aggregates.load(series_stream(series_id))
        if stream.version == 0:
            raise NotFound("series_not_found", f"no meeting series {series_id}")
        return rules.fold(series_id, stream.events)

    def occurrences(self, series: Series) -> list[Meeting]:
        found = []
        for meeting_id in series.meeting_ids:
            try:
                found.append(self.meetings.load(meeting_id))
            except NotFound:
                continue  # not stored yet (a request still completing it)
        return found

    def schedule(self, pairing: PairingInfo, *, actor_id: str, organizer_id: str, starts_at: datetime,
                 duration_minutes: int, timezone: str, interval_weeks: int, count: int, agenda: str | None,
                 causation: Causation) -> tuple[Series, int]:
        series_id = str(uuid.uuid5(_IDS, f"series|{pairing.pairing_id}|{request_id(causation)}"))
        meeting_ids = [str(uuid.uuid5(_IDS, f"occurrence|{series_id}|{index}")) for index in range(count)]
        stored = self.aggregates.load(series_stream(series_id))
        if stored.version:  # a retry: complete the occurrences its first attempt may have left
            series = rules.fold(series_id, stored.events)
            starts_at, meeting_ids = series.starts_at, series.meeting_ids
        series_events, occurrences = rules.schedule(
            pairing, series_id=series_id, meeting_ids=meeting_ids, organizer_id=organizer_id, starts_at=starts_at,
            duration_minutes=duration_minutes, timezone_name=timezone, interval_weeks=interval_weeks,
            now=self.clock.now(), actor_id=actor_id)
        position = 0
        if not stored.version:
            position = self.aggregates.append(series_stream(series_id), 0, series_events, causation).position
        missing = [(meeting_id, 0, events, {0: {"agenda": agenda}} if agenda else None)
                   for meeting_id, events in zip(meeting_ids, occurrences)
                   if not self.meeting_aggregates.load(meeting_id).version]
        if missing:
            results = self.meeting_aggregates.append_many(missing, causation)
            position = max([position, *(r.position for r in results if not isinstance(r, ConcurrencyError))])
        return self.load(series_id), position

    def cancel(self, series: Series, *, by: str, reason: str, causation: Causation) -> list[Outcome]:
        """Cancel every occurrence still to come; past, held and cancelled ones stay as they are. The
        series' MeetingSeriesCancelled names the ones this cancelled (none: no event)."""
        now = self.clock.now()
        outcomes = [self.meetings.cancel(meeting, by=by, reason=reason, causation=causation)
                    for meeting in rules.still_to_come(self.occurrences(series), now)]
        self._record(series, rules.cancelled(series, [o.meeting.meeting_id for o in outcomes if o.position],
                                             by=by, reason=reason), causation)
        return outcomes

    def reschedule(self, series: Series, *, by: str, starts_at: datetime, duration_minutes: int | None,
                   causation: Causation) -> list[Outcome]:
        """Move the next occurrence to `starts_at` and every later one by the same local shift; each
        occurrence's MeetingRescheduled is marked `moved_with_series`, and the series' one
        MeetingSeriesRescheduled says what moved (so each party is told once, not per occurrence)."""
        now = self.clock.now()
        outcomes = [self.meetings.reschedule(meeting, by=by, starts_at=moved, duration_minutes=duration_minutes,
                                             causation=causation, with_series=True)
                    for meeting, moved in rules.shifted(self.occurrences(series), new_start_of_next=starts_at,
                                                        now=now)]
        self._record(series, rules.moved(series, [o.meeting for o in outcomes if o.position], by=by), causation)
        return outcomes

    def _record(self, series: Series, events, causation: Causation) -> None:
        """The series' event of a change, once per request: a retried request (the same request id)
        finds its event on the series' stream and adds none (it would announce the change again)."""
        if not events:
            return
        stream = self.aggregates.load(series_stream(series.series_id))
        if any(event.event_type == events[0].event_type and event.causation_id == causation.causation_id
               and event.correlation_id == causation.correlation_id for event in stream.events):
            return
        try:
            self.aggregates.append(series_stream(series.series_id), stream.version, events, causation)
        except ConcurrencyError:
            # another change of the series at the same moment: ours is recorded after it
            stream = self.aggregates.load(series_stream(series.series_id))
            self.aggregates.append(series_stream(series.series_id), stream.version, events, causation)
