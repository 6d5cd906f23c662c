"""Meeting rules: schedule, reschedule, cancel, complete (held), no-show, dispute.

Pure: a meeting's state is folded from its events; each command takes the state and returns
the new events (type, data) or raises a domain error. No I/O, time comes in as `now`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.aggregate import NewEvent
from shared.clock import parse_rfc3339, rfc3339
from shared.errors import Conflict, Forbidden, Invalid
from shared.events.catalog.sessions import (
    DISPUTABLE_STATUSES, MEETING_CANCELLED, MEETING_DISPUTED, MEETING_HELD, MEETING_NO_SHOW, MEETING_RESCHEDULED,
    MEETING_SCHEDULED, PAIRING_ENDED_REASON, USER_CANCEL_REASONS,
)
from services.sessions.domain.pairing import PairingInfo

MIN_MINUTES = 15
MAX_MINUTES = 240
MAX_HELD_MINUTES = 480
__all__ = ["USER_CANCEL_REASONS", "PAIRING_ENDED_REASON", "Meeting", "fold", "advance", "apply", "schedule", "reschedule",
           "cancel", "cancel_for_ended_pairing", "complete", "no_show", "dispute"]


@dataclass
class Meeting:
    meeting_id: str
    pairing_id: str = ""
    cohort_id: str = ""
    mentor_id: str = ""
    mentee_id: str = ""
    organizer_id: str = ""
    scheduled_by: str | None = None  # who scheduled it (MeetingScheduled v2 actor_id; None: not recorded)
    starts_at: datetime | None = None
    duration_minutes: int = 0
    timezone: str = "UTC"
    status: str = "new"  # new | scheduled | cancelled | held | no_show
    sequence: int = 0  # reschedules, for calendars (iCalendar SEQUENCE)
    cancel_reason: str | None = None
    cancelled_by: str | None = None
    held_at: datetime | None = None
    held_minutes: int | None = None
    attendees: list[str] = field(default_factory=list)
    absent_ids: list[str] = field(default_factory=list)
    recorded_by: str | None = None  # who recorded it held / no-show (None: not recorded, older events)
    disputed_by: str | None = None  # the other party contests that record (MeetingDisputed)
    disputed_at: str | None = None
    series_id: str | None = None  # the recurring series it belongs to (issue 15; None: a single meeting)
    series_index: int | None = None
    original_starts_at: datetime | None = None  # as first scheduled: its place in the series (RECURRENCE-ID)
    group_meeting_id: str | None = None  # a member's copy of a circle's group meeting (issue 15; None: the pair's)
    circle_id: str | None = None
    version: int = 0
    updated_at: str | None = None

    @property
    def parties(self) -> tuple[str, str]:
        return (self.mentor_id, self.mentee_id)

    def base(self) -> dict:
        base = {"meeting_id": self.meeting_id, "pairing_id": self.pairing_id, "cohort_id": self.cohort_id,
                "mentor_id": self.mentor_id, "mentee_id": self.mentee_id}
        if self.group_meeting_id:  # every event of a member's copy names its group meeting (notifications)
            base.update(group_meeting_id=self.group_meeting_id, circle_id=self.circle_id)
        return base

    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_minutes)


def fold(meeting_id: str, events) -> Meeting:
    """The meeting's state from its stored events (Envelopes)."""
    return advance(Meeting(meeting_id=meeting_id), events)


def advance(meeting: Meeting, events) -> Meeting:
    """The meeting after `events` (Envelopes that follow its version), as a new object: what a
    command just appended, applied to the state it decided on, equals the stream read back."""
    meeting = copy.deepcopy(meeting)
    for event in events:
        apply(meeting, event.event_type, event.data)
        meeting.version = event.aggregate_version
        meeting.updated_at = event.occurred_at
    return meeting


def apply(meeting: Meeting, event_type: str, data: dict) -> None:
    if event_type in (MEETING_SCHEDULED, MEETING_RESCHEDULED):
        for name in ("pairing_id", "cohort_id", "mentor_id", "mentee_id", "organizer_id", "duration_minutes",
                     "timezone"):
            setattr(meeting, name, data[name])
        meeting.starts_at = parse_rfc3339(data["starts_at"])
        meeting.status = "scheduled"
        if event_type == MEETING_SCHEDULED:
            meeting.scheduled_by = data.get("actor_id")
            meeting.series_id, meeting.series_index = data.get("series_id"), data.get("series_index")
            meeting.group_meeting_id, meeting.circle_id = data.get("group_meeting_id"), data.get("circle_id")
            meeting.original_starts_at = meeting.starts_at
        else:
            meeting.sequence += 1
    elif event_type == MEETING_CANCELLED:
        meeting.status = "cancelled"
        meeting.cancel_reason = data["reason"]
        meeting.cancelled_by = data["cancelled_by"]
        meeting.sequence += 1
    elif event_type == MEETING_HELD:
        meeting.status = "held"
        meeting.held_at = parse_rfc3339(data["held_at"])
        meeting.held_minutes = data["duration_minutes"]
        meeting.attendees = list(data["attendees"])
        meeting.recorded_by = data.get("recorded_by")
    elif event_type == MEETING_NO_SHOW:
        meeting.status = "no_show"
        meeting.absent_ids = list(data["absent_ids"])
        meeting.recorded_by = data["recorded_by"]
    elif event_type == MEETING_DISPUTED:
        meeting.disputed_by = data["disputed_by"]
        meeting.disputed_at = data["disputed_at"]


def _check_slot(starts_at: datetime, duration_minutes: int, now: datetime) -> None:
    if starts_at <= now:
        raise Invalid("starts_in_past", "must be in the future", field="starts_at")
    if not MIN_MINUTES <= duration_minutes <= MAX_MINUTES:
        raise Invalid("duration_out_of_range", f"must be between {MIN_MINUTES} and {MAX_MINUTES} minutes",
                      field="duration_minutes")


def _require_active(pairing: PairingInfo) -> None:
    """An active pairing, or a completed one whose parties both chose to stay in touch."""
    if not pairing.can_meet:
        raise Conflict("pairing_not_active",
                       f"pairing {pairing.pairing_id} is {pairing.status}; meetings need an active pairing "
                       "(or a completed one staying in touch)", pairing_status=pairing.status)


def schedule(pairing: PairingInfo, *, meeting_id: str, organizer_id: str, starts_at: datetime,
             duration_minutes: int, timezone: str, now: datetime, actor_id: str | None = None) -> list[NewEvent]:
    """`actor_id`: who asks (a party, or an admin for the pair); the organiser is always a party."""
    _require_active(pairing)
    if organizer_id not in pairing.parties:
        raise Invalid("organizer_not_a_party", "the organiser must be the mentor or the mentee", field="organizer_id")
    _check_slot(starts_at, duration_minutes, now)
    data = dict(pairing.fields(), meeting_id=meeting_id, organizer_id=organizer_id, starts_at=rfc3339(starts_at),
                duration_minutes=duration_minutes, timezone=timezone, actor_id=actor_id or organizer_id)
    return [NewEvent(MEETING_SCHEDULED, data)]


def _require_scheduled(meeting: Meeting, action: str) -> None:
    if meeting.status != "scheduled":
        raise Conflict("meeting_not_scheduled", f"a {meeting.status} meeting cannot be {action}",
                       meeting_status=meeting.status)


def reschedule(meeting: Meeting, pairing: PairingInfo, *, by: str, starts_at: datetime, duration_minutes: int | None,
               now: datetime, with_series: bool = False) -> list[NewEvent]:
    """`with_series`: moved as part of its whole series (the series' own event announces the move)."""
    _require_scheduled(meeting, "rescheduled")
    _require_active(pairing)
    duration = duration_minutes if duration_minutes is not None else meeting.duration_minutes
    _check_slot(starts_at, duration, now)
    data = dict(meeting.base(), organizer_id=meeting.organizer_id, starts_at=rfc3339(starts_at),
                duration_minutes=duration, timezone=meeting.timezone, rescheduled_by=by)
    if with_series:
        data["moved_with_series"] = True
    return [NewEvent(MEETING_RESCHEDULED, data)]


def cancel(meeting: Meeting, *, by: str, reason: str) -> list[NewEvent]:
    """Cancelling a cancelled meeting changes nothing (no event): the command is idempotent."""
    if meeting.status == "cancelled":
        return []
    _require_scheduled(meeting, "cancelled")
    return [NewEvent(MEETING_CANCELLED, dict(meeting.base(), cancelled_by=by, reason=reason))]


def cancel_for_ended_pairing(meeting: Meeting, *, ended_at: datetime) -> list[NewEvent]:
    """A pairing ended: its meetings still to come are cancelled; past or closed ones stay as they are."""
    if meeting.status != "scheduled" or meeting.starts_at <= ended_at:
        return []
    return [NewEvent(MEETING_CANCELLED, dict(meeting.base(), cancelled_by="system", reason=PAIRING_ENDED_REASON))]


def complete(meeting: Meeting, *, by: str, now: datetime, held_at: datetime | None = None,
             duration_minutes: int | None = None, attendees: list[str] | None = None) -> list[NewEvent]:
    _require_scheduled(meeting, "completed")
    held = held_at or meeting.starts_at
    if held > now:
        raise Invalid("held_in_future", "a meeting cannot be recorded as held before it happens", field="held_at")
    minutes = duration_minutes if duration_minutes is not None else meeting.duration_minutes
    if not 1 <= minutes <= MAX_HELD_MINUTES:
        raise Invalid("duration_out_of_range", f"must be between 1 and {MAX_HELD_MINUTES} minutes",
                      field="duration_minutes")
    present = list(attendees) if attendees is not None else list(meeting.parties)
    if not present:
        raise Invalid("no_attendees", "at least one of the pair attended a held meeting", field="attendees")
    if any(a not in meeting.parties for a in present) or len(set(present)) != len(present):
        raise Invalid("attendees_not_parties", "attendees are the mentor and/or the mentee, each once",
                      field="attendees")
    data = dict(meeting.base(), held_at=rfc3339(held), duration_minutes=minutes, attendees=present, recorded_by=by)
    return [NewEvent(MEETING_HELD, data)]


def no_show(meeting: Meeting, *, by: str, absent_ids: list[str], now: datetime) -> list[NewEvent]:
    _require_scheduled(meeting, "marked as a no-show")
    if meeting.starts_at > now:
        raise Conflict("meeting_not_started", "a no-show can only be recorded once the meeting has started")
    if not absent_ids or any(a not in meeting.parties for a in absent_ids) or len(set(absent_ids)) != len(absent_ids):
        raise Invalid("absent_not_parties", "list the absent mentor and/or mentee, each once", field="absent_ids")
    return [NewEvent(MEETING_NO_SHOW, dict(meeting.base(), absent_ids=list(absent_ids), recorded_by=by))]


def dispute(meeting: Meeting, *, by: str, now: datetime) -> list[NewEvent]:
    """The other party contests a held or no-show record: once, never by whoever recorded it.

    Only the pair's two parties may dispute (an admin resolves disputes, it does not raise them).
    A record whose recorder is unknown (stored before MeetingHeld carried `recorded_by`) may be
    disputed by either party: nobody can tell which one is "the other".
    """
    if by not in meeting.parties:
        raise Forbidden("not_a_party", "only the mentor or the mentee can dispute what the other recorded")
    if meeting.status not in DISPUTABLE_STATUSES:
        raise Conflict("meeting_not_recorded", f"a {meeting.status} meeting has no held or no-show record to dispute",
                       meeting_status=meeting.status)
    if meeting.disputed_by is not None:
        raise Conflict("already_disputed", f"{meeting.disputed_by} already disputed this record",
                       disputed_by=meeting.disputed_by)
    if by == meeting.recorded_by:
        raise Conflict("recorder_cannot_dispute", "the party who recorded the meeting cannot dispute its own record")
    data = dict(meeting.base(), disputed_by=by, disputed_status=meeting.status, recorded_by=meeting.recorded_by,
                disputed_at=rfc3339(now))
    return [NewEvent(MEETING_DISPUTED, data)]
