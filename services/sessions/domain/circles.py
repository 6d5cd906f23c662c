"""Circles (group mentoring, issue 15): one mentor, several mentees, and their group meetings.

A circle member is an ordinary pairing (mentor, mentee) whose PairingProposed names `circle_id`:
goals and feedback stay per pairing. A group meeting is one GroupMeetingScheduled on the circle's
stream plus a *copy* per member pairing active then: an ordinary meeting whose events name
`group_meeting_id`, so everything that counts meetings (cadence, at-risk, the engagement roster,
"feedback after a held meeting") counts a member's copy like any meeting of the pair. Marking the
group meeting held records each copy: held (mentor and mentee attended) for a member present,
a no-show of the mentee for a member absent, which never counts as held.

Everything here is pure: the circle's parts and its stream in, decisions (events) out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.aggregate import NewEvent
from shared.clock import parse_rfc3339, rfc3339
from shared.errors import Conflict, Invalid
from shared.events.catalog.sessions import GROUP_MEETING_SCHEDULED
from services.sessions.domain import meetings as meeting_rules
from services.sessions.domain.meetings import Meeting
from services.sessions.domain.pairing import PairingInfo

PRESENT, ABSENT = "present", "absent"
ATTENDANCE = (PRESENT, ABSENT)


# -- the circle (from matching's pairing events) --------------------------------------------------

@dataclass
class CirclePart:
    """One Kafka partition's share of a circle: its member pairings seen there (one writer each)."""

    cohort_id: str = ""
    mentor_id: str = ""
    members: dict[str, list] = field(default_factory=dict)  # pairing id -> [version, mentee id, status]

    def apply(self, pairing_id: str, version: int, status: str | None, *, cohort_id: str, mentor_id: str,
              mentee_id: str) -> bool:
        """A member pairing's event (its aggregate version, the status it sets or None). False when
        it changes nothing: seen already (the newest version wins, as in the pairings view)."""
        known = self.members.get(pairing_id)
        if known is not None and int(known[0]) >= version:
            return False
        self.cohort_id, self.mentor_id = cohort_id, mentor_id
        kept = status if status is not None else (known[2] if known else "proposed")
        self.members[pairing_id] = [version, mentee_id, kept]
        return True


@dataclass(frozen=True)
class CircleMember:
    pairing_id: str
    mentee_id: str
    status: str


@dataclass
class Circle:
    circle_id: str
    cohort_id: str = ""
    mentor_id: str = ""
    members: dict[str, CircleMember] = field(default_factory=dict)  # pairing id -> member

    @classmethod
    def of_parts(cls, circle_id: str, parts: list[CirclePart]) -> "Circle | None":
        circle = cls(circle_id)
        for part in parts:
            circle.cohort_id = circle.cohort_id or part.cohort_id
            circle.mentor_id = circle.mentor_id or part.mentor_id
            for pairing_id, (_, mentee_id, status) in part.members.items():
                circle.members[pairing_id] = CircleMember(pairing_id, mentee_id, status)
        return circle if circle.members else None

    @property
    def mentee_ids(self) -> set[str]:
        return {m.mentee_id for m in self.members.values()}

    def includes(self, employee_id: str) -> bool:
        return employee_id == self.mentor_id or employee_id in self.mentee_ids


# -- group meetings (the circle's stream) -----------------------------------------------------------

@dataclass
class GroupMeeting:
    group_meeting_id: str
    circle_id: str = ""
    cohort_id: str = ""
    mentor_id: str = ""
    organizer_id: str = ""
    scheduled_by: str | None = None
    starts_at: datetime | None = None  # as scheduled; the copies say where it is now
    duration_minutes: int = 0
    timezone: str = "UTC"
    members: list[dict] = field(default_factory=list)  # {pairing_id, mentee_id, meeting_id}
    agenda: str | None = None

    def copy_of(self, mentee_id: str) -> dict | None:
        return next((m for m in self.members if m["mentee_id"] == mentee_id), None)


@dataclass
class CircleMeetings:
    """The circle's stream folded: its group meetings in the order they were scheduled."""

    circle_id: str
    meetings: dict[str, GroupMeeting] = field(default_factory=dict)
    version: int = 0


def fold(circle_id: str, events, private: dict | None = None) -> CircleMeetings:
    folded = CircleMeetings(circle_id)
    for event in events:
        if event.event_type == GROUP_MEETING_SCHEDULED:
            data = event.data
            folded.meetings[data["group_meeting_id"]] = GroupMeeting(
                group_meeting_id=data["group_meeting_id"], circle_id=data["circle_id"], cohort_id=data["cohort_id"],
                mentor_id=data["mentor_id"], organizer_id=data["organizer_id"], scheduled_by=data.get("actor_id"),
                starts_at=parse_rfc3339(data["starts_at"]), duration_minutes=data["duration_minutes"],
                timezone=data["timezone"], members=[dict(m) for m in data["members"]],
                agenda=((private or {}).get(event.event_id) or {}).get("agenda"))
        folded.version = event.aggregate_version
    return folded


def schedule(circle: Circle, pairings: dict[str, PairingInfo], *, group_meeting_id: str, copy_ids: dict[str, str],
             organizer_id: str, starts_at: datetime, duration_minutes: int, timezone: str, now: datetime,
             actor_id: str) -> tuple[list[NewEvent], list[tuple[str, list[NewEvent]]]]:
    """The group meeting's event and each copy's (meeting id, events): one per member pairing that
    can meet now (`pairings`: the members' pairings as the pairings view has them)."""
    members = [pairings[pid] for pid in sorted(circle.members) if pid in pairings and pairings[pid].can_meet]
    if not members:
        raise Conflict("circle_has_no_active_members", f"circle {circle.circle_id} has no active member to meet")
    copies, listed = [], []
    for pairing in members:
        meeting_id = copy_ids[pairing.pairing_id]
        [scheduled] = meeting_rules.schedule(pairing, meeting_id=meeting_id, organizer_id=organizer_id,
                                             starts_at=starts_at, duration_minutes=duration_minutes,
                                             timezone=timezone, now=now, actor_id=actor_id)
        copies.append((meeting_id, [NewEvent(scheduled.event_type, dict(
            scheduled.data, group_meeting_id=group_meeting_id, circle_id=circle.circle_id))]))
        listed.append({"pairing_id": pairing.pairing_id, "mentee_id": pairing.mentee_id, "meeting_id": meeting_id})
    data = {"group_meeting_id": group_meeting_id, "circle_id": circle.circle_id, "cohort_id": circle.cohort_id,
            "mentor_id": circle.mentor_id, "organizer_id": organizer_id, "starts_at": rfc3339(starts_at),
            "duration_minutes": duration_minutes, "timezone": timezone, "members": listed, "actor_id": actor_id}
    return [NewEvent(GROUP_MEETING_SCHEDULED, data)], copies


def status_of(copies: list[Meeting]) -> str:
    """The group meeting's status from its copies: scheduled while any copy is (a member may have
    recorded their own copy already: the mentor still records the rest), held once the copies are
    recorded (held or a no-show), cancelled when every copy is."""
    statuses = {m.status for m in copies}
    if "scheduled" in statuses or not statuses:
        return "scheduled"
    if statuses & {"held", "no_show"}:
        return "held"
    return "cancelled"


def current_slot(group: GroupMeeting, copies: list[Meeting]) -> tuple[datetime, int, int]:
    """(starts at, minutes, sequence) now: the most moved copy not cancelled (they move together)."""
    live = [m for m in copies if m.status != "cancelled"] or copies
    if not live:
        return group.starts_at, group.duration_minutes, 0
    latest = max(live, key=lambda m: m.sequence)
    return latest.starts_at, latest.duration_minutes, latest.sequence


def reschedule(copies: list[tuple[Meeting, PairingInfo | None]], *, by: str, starts_at: datetime,
               duration_minutes: int | None, now: datetime) -> list[tuple[Meeting, list[NewEvent]]]:
    """Move every scheduled copy whose pairing can still meet (an ended member's copy is cancelled by
    the ended-pairing policy); a copy already at the new slot (a retried request) is left as it is."""
    moving = [(m, p) for m, p in copies if m.status == "scheduled" and p is not None and p.can_meet]
    if not moving:
        raise Conflict("group_meeting_not_scheduled", "no member's meeting is still scheduled")
    decided = []
    for meeting, pairing in moving:
        minutes = duration_minutes if duration_minutes is not None else meeting.duration_minutes
        if meeting.starts_at == starts_at and meeting.duration_minutes == minutes:
            continue
        decided.append((meeting, meeting_rules.reschedule(meeting, pairing, by=by, starts_at=starts_at,
                                                          duration_minutes=duration_minutes, now=now)))
    return decided


def cancel(copies: list[Meeting], *, by: str, reason: str) -> list[tuple[Meeting, list[NewEvent]]]:
    if not any(m.status in ("scheduled", "cancelled") for m in copies):
        raise Conflict("group_meeting_not_scheduled", "the circle's meeting was held: it cannot be cancelled")
    return [(m, meeting_rules.cancel(m, by=by, reason=reason)) for m in copies if m.status == "scheduled"]


def mark_held(copies: list[Meeting], attendance: dict[str, str], *, by: str, now: datetime,
              held_at: datetime | None, duration_minutes: int | None) -> list[tuple[Meeting, list[NewEvent]]]:
    """Record each member's copy: held (the mentor and the mentee attended) for a member present, a
    no-show of the mentee for one absent. `attendance` names every member whose copy is not
    cancelled (mentee id -> present | absent), at least one present. A copy already recorded the
    same way (a retried request) is left as it is; recorded the other way: 409."""
    open_copies = {m.mentee_id: m for m in copies if m.status != "cancelled"}
    unknown = sorted(set(attendance) - set(open_copies))
    if unknown:
        raise Invalid("not_a_member", f"not members of this meeting: {', '.join(unknown)}", field="attendance")
    missing = sorted(set(open_copies) - set(attendance))
    if missing:
        raise Invalid("attendance_incomplete", f"say whether each member came: {', '.join(missing)}",
                      field="attendance")
    if PRESENT not in attendance.values():
        raise Invalid("no_one_present", "a held meeting has at least one member present (else cancel it)",
                      field="attendance")
    when = held_at
    decided = []
    for mentee_id, meeting in sorted(open_copies.items()):
        present = attendance[mentee_id] == PRESENT
        if present and meeting.status == "held" and meeting.mentee_id in meeting.attendees:
            continue
        if not present and meeting.status == "no_show" and meeting.absent_ids == [mentee_id]:
            continue
        if present:
            events = meeting_rules.complete(meeting, by=by, now=now, held_at=when, duration_minutes=duration_minutes,
                                            attendees=[meeting.mentor_id, meeting.mentee_id])
        else:
            events = meeting_rules.no_show(meeting, by=by, absent_ids=[mentee_id], now=now)
        decided.append((meeting, events))
    return decided


def ends_at(starts_at: datetime, minutes: int) -> datetime:
    return starts_at + timedelta(minutes=minutes)
