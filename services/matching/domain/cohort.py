"""Programme and cohort aggregates (pure: state + command -> events or a DomainError).

A cohort's stream holds its creation, status changes, enrolments, withdrawals and matching runs.
Statuses move forward one step at a time (draft -> enrolling -> matching -> active -> closed);
any open cohort may be closed directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from shared.aggregate import NewEvent
from shared.events.envelope import Envelope
from services.matching.domain.errors import Invalid, InvalidState

STATUSES = ("draft", "enrolling", "matching", "active", "closed")
ENROLLABLE = ("enrolling", "matching", "active")
MATCHABLE = ("matching", "active")
DEFAULT_CADENCE_DAYS = 14
DEFAULT_ANSWER_DEADLINE_DAYS = 7


def create_program(program_id: str, name: str, description: str | None, created_by: str) -> list[NewEvent]:
    return [NewEvent("ProgramCreated", {"program_id": program_id, "name": name, "description": description,
                                        "created_by": created_by})]


@dataclass
class Enrollment:
    enrollment_id: str
    employee_id: str
    role: str
    capacity: int
    topics: list
    active: bool = True


@dataclass
class CohortState:
    cohort_id: str | None = None
    program_id: str | None = None
    name: str | None = None
    status: str | None = None
    meeting_cadence_days: int = DEFAULT_CADENCE_DAYS
    answer_deadline_days: int = DEFAULT_ANSWER_DEADLINE_DAYS
    rules: dict = field(default_factory=dict)
    enrollments: dict[str, Enrollment] = field(default_factory=dict)  # employee_id -> enrolment
    runs: list[str] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        return self.cohort_id is not None

    @classmethod
    def from_events(cls, events: list[Envelope]) -> "CohortState":
        state = cls()
        for event in events:
            state.apply(event.event_type, event.data)
        return state

    def apply(self, event_type: str, data: dict) -> None:
        if event_type == "CohortCreated":
            self.cohort_id = data["cohort_id"]
            self.program_id = data["program_id"]
            self.name = data["name"]
            self.status = data["status"]
            self.meeting_cadence_days = data["meeting_cadence_days"]
            self.answer_deadline_days = data["answer_deadline_days"]
            self.rules = data["rules"]
        elif event_type == "CohortStatusChanged":
            self.status = data["status"]
        elif event_type == "ParticipantEnrolled":
            self.enrollments[data["employee_id"]] = Enrollment(
                data["enrollment_id"], data["employee_id"], data["role"], data["capacity"], list(data["topics"]))
        elif event_type == "EnrollmentWithdrawn":
            enrollment = self.enrollments.get(data["employee_id"])
            if enrollment is not None:
                enrollment.active = False
        elif event_type == "MatchingRunCompleted":
            self.runs.append(data["run_id"])

    def active_enrollment(self, employee_id: str) -> Enrollment | None:
        enrollment = self.enrollments.get(employee_id)
        return enrollment if enrollment is not None and enrollment.active else None


def create_cohort(state: CohortState, *, cohort_id: str, program_exists: bool, program_id: str, name: str,
                  starts_on: date, ends_on: date, meeting_cadence_days: int, answer_deadline_days: int,
                  rules: dict, created_by: str) -> list[NewEvent]:
    if state.exists:
        raise InvalidState("cohort_exists", f"cohort {cohort_id} already exists")
    if not program_exists:
        raise InvalidState("program_unknown", f"no programme {program_id}")
    if ends_on <= starts_on:
        raise Invalid("dates", "ends_on must be after starts_on", field="ends_on")
    return [NewEvent("CohortCreated", {
        "cohort_id": cohort_id, "program_id": program_id, "name": name, "starts_on": starts_on.isoformat(),
        "ends_on": ends_on.isoformat(), "status": "draft", "meeting_cadence_days": meeting_cadence_days,
        "answer_deadline_days": answer_deadline_days, "rules": rules, "created_by": created_by})]


def _require(state: CohortState) -> None:
    if not state.exists:
        raise InvalidState("cohort_unknown", "no such cohort")


def change_status(state: CohortState, new_status: str, changed_by: str) -> list[NewEvent]:
    _require(state)
    if new_status not in STATUSES:
        raise Invalid("status", f"status must be one of {', '.join(STATUSES)}", field="status")
    current = state.status
    if new_status == current:
        return []
    allowed = new_status == "closed" and current != "closed"
    allowed = allowed or STATUSES.index(new_status) == STATUSES.index(current) + 1
    if not allowed:
        raise InvalidState("status_transition", f"a cohort cannot go from {current} to {new_status}")
    return [NewEvent("CohortStatusChanged", {"cohort_id": state.cohort_id, "program_id": state.program_id,
                                             "status": new_status, "previous_status": current,
                                             "changed_by": changed_by})]


def enroll(state: CohortState, *, enrollment_id: str, employee_id: str, role: str, capacity: int,
           topics: list) -> list[NewEvent]:
    _require(state)
    if state.status not in ENROLLABLE:
        raise InvalidState("cohort_not_enrolling", f"the cohort is {state.status}; enrolment needs one of "
                                                   f"{', '.join(ENROLLABLE)}")
    if state.active_enrollment(employee_id) is not None:
        raise InvalidState("already_enrolled", f"{employee_id} is already enrolled in this cohort")
    if role == "mentor" and capacity < 1:
        raise Invalid("capacity", "a mentor needs a capacity of at least 1", field="capacity")
    return [NewEvent("ParticipantEnrolled", {
        "cohort_id": state.cohort_id, "enrollment_id": enrollment_id, "employee_id": employee_id, "role": role,
        "capacity": capacity if role == "mentor" else 0, "topics": list(topics)})]


def withdraw(state: CohortState, employee_id: str, reason: str) -> list[NewEvent]:
    """Withdraw an enrolment; withdrawing someone not (or no longer) enrolled changes nothing."""
    _require(state)
    enrollment = state.active_enrollment(employee_id)
    if enrollment is None:
        return []
    return [NewEvent("EnrollmentWithdrawn", {"cohort_id": state.cohort_id, "enrollment_id": enrollment.enrollment_id,
                                             "employee_id": employee_id, "role": enrollment.role, "reason": reason})]


def complete_run(state: CohortState, *, run_id: str, mode: str, input_hash: str, matched: int, unmatched: list,
                 total_score: float, pairing_ids: list, started_by: str) -> list[NewEvent]:
    _require(state)
    if state.status not in MATCHABLE:
        raise InvalidState("cohort_not_matching", f"the cohort is {state.status}; a matching run needs one of "
                                                  f"{', '.join(MATCHABLE)}")
    return [NewEvent("MatchingRunCompleted", {
        "cohort_id": state.cohort_id, "run_id": run_id, "mode": mode, "input_hash": input_hash, "matched": matched,
        "unmatched": unmatched, "total_score": total_score, "pairing_ids": pairing_ids, "started_by": started_by})]
