"""Group meetings of a circle (issue 15; domain/circles.py says what a group meeting is).

Ids derive from the request, as a single meeting's do: the group meeting's from the circle and the
request id, each member's copy from the group meeting and the pairing, so a retried request finds
what its first attempt stored and completes it instead of scheduling a second meeting. The group
meeting's commit (the circle's stream) is stored first, then every copy's first commit in one
`append_many` (one insert): the event store keeps one stream per commit, so that is as atomic as it
gets, and the retry completes whatever a crash left out. Changes (move, cancel, held) are decided
for every copy on its loaded stream and stored the same way; a copy a concurrent request changed
is decided again on its reloaded stream (the rules leave a copy already changed as it is).
"""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from shared.aggregate import Causation, NewEvent
from shared.errors import NotFound
from shared.eventstore import ConcurrencyError
from services.sessions.adapters.mongo import from_doc
from services.sessions.application.commands import _IDS, ATTEMPTS, MeetingCommands, request_id
from services.sessions.domain import circles as rules
from services.sessions.domain import meetings as meeting_rules
from services.sessions.domain.circles import Circle, CircleMeetings, GroupMeeting
from services.sessions.domain.meetings import Meeting

VIEW_READERS = 8  # copies read at once for a list (a circle has up to 8 members)


def circle_stream(circle_id: str) -> str:
    return f"circle|{circle_id}"


def _side_by_side(read, keys: list) -> list:
    """`read` of each key, up to VIEW_READERS at once: each is a round trip, and on a busy FerretDB the
    wait is most of the cost (measured: docs/api-sessions-circles.md)."""
    if len(keys) < 2:
        return [read(key) for key in keys]
    with ThreadPoolExecutor(min(VIEW_READERS, len(keys))) as pool:
        return list(pool.map(read, keys))


@dataclass(frozen=True)
class GroupView:
    """A group meeting as it now is: its record and its members' copies."""

    group: GroupMeeting
    copies: list[Meeting]

    @property
    def status(self) -> str:
        return rules.status_of(self.copies)


class CircleCommands:
    def __init__(self, aggregates, meetings: MeetingCommands, meeting_aggregates, pairings, circles, meetings_view,
                 clock):
        self.aggregates = aggregates  # AggregateStore of `circle-meetings`
        self.meetings = meetings
        self.meeting_aggregates = meeting_aggregates  # AggregateStore of `meeting` (sealing agendas)
        self.pairings = pairings
        self.circles = circles  # adapters/circles.CirclesView
        self.meetings_view = meetings_view
        self.clock = clock

    # -- reads ----------------------------------------------------------------------------------

    def circle(self, circle_id: str) -> Circle:
        circle = self.circles.get(circle_id)
        if circle is None:
            raise NotFound("circle_not_found", f"no circle {circle_id} is known")
        return circle

    def _meetings(self, circle_id: str) -> CircleMeetings:
        stream = self.aggregates.load(circle_stream(circle_id))
        return rules.fold(circle_id, stream.events, stream.private)

    def group(self, circle_id: str, group_meeting_id: str) -> GroupMeeting:
        group = self._meetings(circle_id).meetings.get(group_meeting_id)
        if group is None:
            raise NotFound("group_meeting_not_found", f"no meeting {group_meeting_id} in circle {circle_id}")
        return group

    def view(self, group: GroupMeeting, *, from_streams: bool = False) -> GroupView:
        """The group meeting with its copies: from their streams (commands, one meeting) or from the
        meetings view by `_id` (lists). A copy not stored yet (a request still completing) is left out."""
        if not from_streams:
            return self._from_view([group])[0]
        streams = _side_by_side(self.meeting_aggregates.load, [member["meeting_id"] for member in group.members])
        return GroupView(group, [meeting_rules.fold(stream.stream_id, stream.events) for stream in streams
                                 if stream.version])

    def _from_view(self, groups: list[GroupMeeting]) -> list[GroupView]:
        # every copy of every group meeting by `_id`, side by side
        ids = [member["meeting_id"] for group in groups for member in group.members]
        docs = dict(zip(ids, _side_by_side(self.meetings_view.get, ids)))
        return [GroupView(group, [from_doc(doc) for member in group.members
                                  if (doc := docs.get(member["meeting_id"])) is not None]) for group in groups]

    def of_circle(self, circle_id: str) -> list[GroupView]:
        """The circle's group meetings, earliest first."""
        views = self._from_view(list(self._meetings(circle_id).meetings.values()))
        return sorted(views, key=lambda v: (rules.current_slot(v.group, v.copies)[0], v.group.group_meeting_id))

    # -- commands -------------------------------------------------------------------------------

    def schedule(self, circle: Circle, *, actor_id: str, organizer_id: str, starts_at: datetime,
                 duration_minutes: int, timezone: str, agenda: str | None,
                 causation: Causation) -> tuple[GroupMeeting, int]:
        group_meeting_id = str(uuid.uuid5(_IDS, f"group-meeting|{circle.circle_id}|{request_id(causation)}"))
        position = 0
        for attempt in range(ATTEMPTS):
            stream = self.aggregates.load(circle_stream(circle.circle_id))
            stored = rules.fold(circle.circle_id, stream.events, stream.private).meetings.get(group_meeting_id)
            if stored is not None:  # a retry: complete the copies its first attempt may have left
                members = {m["pairing_id"]: m["meeting_id"] for m in stored.members}
                starts_at, duration_minutes, timezone = stored.starts_at, stored.duration_minutes, stored.timezone
                pairings = self._pairings(list(members))
                subset = Circle(circle.circle_id, circle.cohort_id, circle.mentor_id,
                                {pid: m for pid, m in circle.members.items() if pid in members})
            else:
                pairings = self._pairings(sorted(circle.members))
                members = {pid: str(uuid.uuid5(_IDS, f"group-copy|{group_meeting_id}|{pid}")) for pid in pairings}
                subset = circle
            group_events, copies = rules.schedule(
                subset, pairings, group_meeting_id=group_meeting_id, copy_ids=members, organizer_id=organizer_id,
                starts_at=starts_at, duration_minutes=duration_minutes, timezone=timezone, now=self.clock.now(),
                actor_id=actor_id)
            if stored is not None:
                break
            private = {0: {"agenda": agenda}} if agenda else None
            try:
                position = self.aggregates.append(circle_stream(circle.circle_id), stream.version, group_events,
                                                  causation, private=private).position
                break
            except ConcurrencyError:  # another group meeting of the circle was scheduled meanwhile
                if attempt == ATTEMPTS - 1:
                    raise
        # every copy's first commit in one insert; on a retry, a copy its first attempt stored is
        # refused alone (ConcurrencyError at version 0) and stays as it is
        results = self.meeting_aggregates.append_many(
            [(meeting_id, 0, events, {0: {"agenda": agenda}} if agenda else None) for meeting_id, events in copies],
            causation)
        position = max([position, *(r.position for r in results if not isinstance(r, ConcurrencyError))])
        return self.group(circle.circle_id, group_meeting_id), position

    def _pairings(self, pairing_ids: list[str]) -> dict:
        found = _side_by_side(self.pairings.get, pairing_ids)
        return {pid: pairing for pid, pairing in zip(pairing_ids, found) if pairing is not None}

    def reschedule(self, group: GroupMeeting, *, by: str, starts_at: datetime, duration_minutes: int | None,
                   causation: Causation) -> int:
        def decide(copies):
            return rules.reschedule([(m, self.pairings.get(m.pairing_id)) for m in copies], by=by,
                                    starts_at=starts_at, duration_minutes=duration_minutes, now=self.clock.now())
        return self._change(group, decide, causation)

    def cancel(self, group: GroupMeeting, *, by: str, reason: str, causation: Causation) -> int:
        return self._change(group, lambda copies: rules.cancel(copies, by=by, reason=reason), causation)

    def mark_held(self, group: GroupMeeting, *, by: str, attendance: dict[str, str], held_at: datetime | None,
                  duration_minutes: int | None, causation: Causation) -> int:
        def decide(copies):
            return rules.mark_held(copies, attendance, by=by, now=self.clock.now(), held_at=held_at,
                                   duration_minutes=duration_minutes)
        return self._change(group, decide, causation)

    def _change(self, group: GroupMeeting, decide, causation: Causation) -> int:
        """Decide for every copy on its stream and store the commits together; copies a concurrent
        request moved on are decided again (at most ATTEMPTS rounds, then 409)."""
        position = 0
        pending = None
        for _ in range(ATTEMPTS):
            copies = self.view(group, from_streams=True).copies
            decided: list[tuple[Meeting, list[NewEvent]]] = [(m, e) for m, e in decide(copies) if e]
            if pending is not None:
                decided = [(m, e) for m, e in decided if m.meeting_id in pending]
            if not decided:
                return position
            results = self.meeting_aggregates.append_many(
                [(m.meeting_id, m.version, events, None) for m, events in decided], causation)
            position = max([position, *(r.position for r in results if not isinstance(r, ConcurrencyError))])
            pending = {m.meeting_id for (m, _), r in zip(decided, results) if isinstance(r, ConcurrencyError)}
            if not pending:
                return position
        raise ConcurrencyError(sorted(pending)[0], -1)
