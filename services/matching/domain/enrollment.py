"""The enrolment aggregate: one stream per person per cohort, `{cohort_id}|{employee_id}`.

Because the stream id is computed from the pair, the event store's optimistic concurrency is the
uniqueness rule: two concurrent enrolments of one person in one cohort cannot both append at
version 0 (or at the version after a withdrawal). A withdrawn person may enrol again on the same
stream. `enrolled_at` (the enrolment event's `occurred_at`) lets an HRIS termination end only
enrolments that existed before it.

A revision changes a mentor's capacity and/or pauses the person (no new proposals from runs or by
hand). Neither ever ends a pairing: a capacity below the seats already taken is allowed and simply
leaves no seat free (domain/assignment.py counts `max(0, capacity - seats_taken)`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.aggregate import NewEvent
from shared.clock import parse_rfc3339
from shared.errors import Conflict, Invalid
from shared.events.catalog import matching as ev
from shared.events.envelope import Envelope

from services.matching.domain.cohort import ENROLLABLE, CohortState


def stream_id(cohort_id: str, employee_id: str) -> str:
    return f"{cohort_id}|{employee_id}"


@dataclass
class EnrollmentState:
    cohort_id: str | None = None
    employee_id: str | None = None
    enrollment_id: str | None = None
    role: str | None = None
    capacity: int = 0
    topics: list = field(default_factory=list)
    active: bool = False
    paused: bool = False
    enrolled_at: str | None = None

    @classmethod
    def from_events(cls, events: list[Envelope]) -> "EnrollmentState":
        state = cls()
        for event in events:
            state.apply(event.event_type, event.data, event.occurred_at)
        return state

    def apply(self, event_type: str, data: dict, occurred_at: str | None = None) -> None:
        if event_type == ev.PARTICIPANT_ENROLLED:
            self.cohort_id, self.employee_id = data["cohort_id"], data["employee_id"]
            self.enrollment_id, self.role = data["enrollment_id"], data["role"]
            self.capacity, self.topics = data["capacity"], list(data["topics"])
            self.active, self.enrolled_at, self.paused = True, occurred_at, False
        elif event_type == ev.ENROLLMENT_REVISED:
            self.capacity = data.get("capacity", self.capacity)
            self.paused = data.get("paused", self.paused)
        elif event_type == ev.ENROLLMENT_WITHDRAWN:
            self.active = False


def require_enrollable(cohort: CohortState) -> None:
    """The cohort takes enrolments now (a bulk enrolment asks once, before its rows)."""
    if not cohort.exists:
        raise Conflict("cohort_unknown", "no such cohort")
    if cohort.status not in ENROLLABLE:
        raise Conflict("cohort_not_enrolling", f"the cohort is {cohort.status}; enrolment needs one of "
                                               f"{', '.join(ENROLLABLE)}")


def enroll(cohort: CohortState, state: EnrollmentState, *, enrollment_id: str, employee_id: str, role: str,
           capacity: int, topics: list) -> list[NewEvent]:
    require_enrollable(cohort)
    if state.active:
        raise Conflict("already_enrolled", f"{employee_id} is already enrolled in this cohort")
    if role == "mentor" and capacity < 1:
        raise Invalid("capacity", "a mentor needs a capacity of at least 1", field="capacity")
    if role == "mentor" and cohort.max_mentor_capacity is not None and capacity > cohort.max_mentor_capacity:
        raise Invalid("capacity_above_max", f"this cohort's mentors take at most {cohort.max_mentor_capacity} "
                                            "mentees", field="capacity")
    return [NewEvent(ev.PARTICIPANT_ENROLLED, {
        "cohort_id": cohort.cohort_id, "enrollment_id": enrollment_id, "employee_id": employee_id, "role": role,
        "capacity": capacity if role == "mentor" else 0, "topics": list(topics)})]


def revise(cohort: CohortState, state: EnrollmentState, *, capacity: int | None = None, paused: bool | None = None,
           revised_by: str) -> list[NewEvent]:
    """Change a mentor's capacity and/or pause (or resume) an enrolment; `[]` when nothing changes.

    Participants (changing their own) stay within the cohort's `max_mentor_capacity`; so do admins
    (the maximum is the cohort's promise to mentors: an admin raises it first).
    """
    if not cohort.exists:
        raise Conflict("cohort_unknown", "no such cohort")
    if cohort.status == "closed":
        raise Conflict("cohort_closed", "a closed cohort's enrolments no longer change")
    if not state.active:
        raise Conflict("not_enrolled", f"{state.employee_id or 'the person'} is not enrolled in this cohort")
    data: dict = {}
    if capacity is not None and capacity != state.capacity:
        if state.role != "mentor":
            raise Invalid("capacity", "a mentee has no capacity", field="capacity")
        if capacity < 1:
            raise Invalid("capacity", "a mentor needs a capacity of at least 1 (pause them instead)", field="capacity")
        if cohort.max_mentor_capacity is not None and capacity > cohort.max_mentor_capacity:
            raise Invalid("capacity_above_max", f"this cohort's mentors take at most {cohort.max_mentor_capacity} "
                                                "mentees", field="capacity")
        data["capacity"] = capacity
    if paused is not None and paused != state.paused:
        data["paused"] = paused
    if not data:
        return []
    return [NewEvent(ev.ENROLLMENT_REVISED, {"cohort_id": state.cohort_id, "enrollment_id": state.enrollment_id,
                                             "employee_id": state.employee_id, "role": state.role, **data,
                                             "revised_by": revised_by})]


def withdraw(state: EnrollmentState, reason: str) -> list[NewEvent]:
    """Withdraw an enrolment; withdrawing someone not (or no longer) enrolled changes nothing."""
    if not state.active:
        return []
    return [NewEvent(ev.ENROLLMENT_WITHDRAWN, {"cohort_id": state.cohort_id, "enrollment_id": state.enrollment_id,
                                               "employee_id": state.employee_id, "role": state.role,
                                               "reason": reason})]


def withdraw_on_termination(state: EnrollmentState, terminated_at: str) -> list[NewEvent]:
    """A termination withdraws only an enrolment that began before it (a rehire's new one stays)."""
    if not state.active or state.enrolled_at is None or parse_rfc3339(state.enrolled_at) >= parse_rfc3339(
            terminated_at):
        return []
    return withdraw(state, "participant_left")
