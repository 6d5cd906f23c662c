"""Programme and cohort aggregates (pure: state + command -> events, `[]` when nothing changes).

A cohort's stream holds its creation and its status changes; enrolments are streams of their own
(domain/enrollment.py) and so are matching runs (domain/run.py), so a cohort of 20,000 people is
still a short stream. Statuses move forward one step at a time
(draft -> enrolling -> matching -> active -> closed); any open cohort may be closed directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from shared.aggregate import NewEvent
from shared.errors import Conflict, Invalid
from shared.events.catalog import matching as ev
from shared.events.envelope import Envelope

STATUSES = ev.COHORT_STATUSES
ENROLLABLE = ("enrolling", "matching", "active")
MATCHABLE = ("matching", "active")
DEFAULT_CADENCE_DAYS = 14
DEFAULT_ANSWER_DEADLINE_DAYS = 7


def create_program(program_id: str, name: str, description: str | None, created_by: str) -> list[NewEvent]:
    return [NewEvent(ev.PROGRAM_CREATED, {"program_id": program_id, "name": name, "description": description,
                                          "created_by": created_by})]


@dataclass
class CohortState:
    cohort_id: str | None = None
    program_id: str | None = None
    name: str | None = None
    status: str | None = None
    starts_on: str | None = None
    ends_on: str | None = None
    meeting_cadence_days: int = DEFAULT_CADENCE_DAYS
    answer_deadline_days: int = DEFAULT_ANSWER_DEADLINE_DAYS
    rules: dict = field(default_factory=dict)

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
        if event_type == ev.COHORT_CREATED:
            self.cohort_id = data["cohort_id"]
            self.program_id = data["program_id"]
            self.name = data["name"]
            self.status = data["status"]
            self.starts_on, self.ends_on = data["starts_on"], data["ends_on"]
            self.meeting_cadence_days = data["meeting_cadence_days"]
            self.answer_deadline_days = data["answer_deadline_days"]
            self.rules = data["rules"]
        elif event_type == ev.COHORT_STATUS_CHANGED:
            self.status = data["status"]


def create_cohort(state: CohortState, *, cohort_id: str, program_exists: bool, program_id: str, name: str,
                  starts_on: date, ends_on: date, meeting_cadence_days: int, answer_deadline_days: int,
                  rules: dict, created_by: str) -> list[NewEvent]:
    if state.exists:
        raise Conflict("cohort_exists", f"cohort {cohort_id} already exists")
    if not program_exists:
        raise Conflict("program_unknown", f"no programme {program_id}")
    if ends_on <= starts_on:
        raise Invalid("dates", "ends_on must be after starts_on", field="ends_on")
    return [NewEvent(ev.COHORT_CREATED, {
        "cohort_id": cohort_id, "program_id": program_id, "name": name, "starts_on": starts_on.isoformat(),
        "ends_on": ends_on.isoformat(), "status": "draft", "meeting_cadence_days": meeting_cadence_days,
        "answer_deadline_days": answer_deadline_days, "rules": rules, "created_by": created_by})]


def _require(state: CohortState) -> None:
    if not state.exists:
        raise Conflict("cohort_unknown", "no such cohort")


def can_move(current: str | None, new_status: str) -> bool:
    """The cohort status machine: one step forward, or straight to closed from any open status."""
    if current is None or current == "closed" or new_status not in STATUSES:
        return False
    if new_status == "closed":
        return True
    return STATUSES.index(new_status) == STATUSES.index(current) + 1


def change_status(state: CohortState, new_status: str, changed_by: str) -> list[NewEvent]:
    _require(state)
    if new_status not in STATUSES:
        raise Invalid("status", f"status must be one of {', '.join(STATUSES)}", field="status")
    current = state.status
    if new_status == current:
        return []
    if not can_move(current, new_status):
        raise Conflict("status_transition", f"a cohort cannot go from {current} to {new_status}")
    return [NewEvent(ev.COHORT_STATUS_CHANGED, {"cohort_id": state.cohort_id, "program_id": state.program_id,
                                                "status": new_status, "previous_status": current,
                                                "changed_by": changed_by})]


def require_matchable(state: CohortState, action: str = "a matching run") -> None:
    _require(state)
    if state.status not in MATCHABLE:
        raise Conflict("cohort_not_matching", f"the cohort is {state.status}; {action} needs one of "
                                              f"{', '.join(MATCHABLE)}")
