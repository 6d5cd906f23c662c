"""Programme and cohort aggregates (pure: state + command -> events, `[]` when nothing changes).

A cohort's stream holds its creation, its status changes and revisions of its settings (each
revision carries only what changed); enrolments are streams of their own
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
MATCHING_STYLES = ev.MATCHING_STYLES
DEFAULT_MATCHING_STYLE = "admin_run"
FORMATS = ev.COHORT_FORMATS
DEFAULT_FORMAT = "pair"
# A cohort's format is chosen before anyone is paired: pairings exist only from `matching` on (runs,
# manual proposals and requests need MATCHABLE, and a status never goes back), so "only in draft or
# enrolling" is exactly "only while the cohort has no pairings" and needs no look at the pairings.
FORMAT_CHANGEABLE = ("draft", "enrolling")


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
    max_mentor_capacity: int | None = None
    matching_style: str = DEFAULT_MATCHING_STYLE
    format: str = DEFAULT_FORMAT
    circle_min_size: int = ev.DEFAULT_CIRCLE_MIN_SIZE
    circle_max_size: int = ev.DEFAULT_CIRCLE_MAX_SIZE

    @property
    def exists(self) -> bool:
        return self.cohort_id is not None

    @property
    def is_circle(self) -> bool:
        return self.format == "circle"

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
            self.max_mentor_capacity = data.get("max_mentor_capacity")
            self.matching_style = data.get("matching_style") or DEFAULT_MATCHING_STYLE
            self.format = data.get("format") or DEFAULT_FORMAT
            self.circle_min_size = data.get("circle_min_size") or ev.DEFAULT_CIRCLE_MIN_SIZE
            self.circle_max_size = data.get("circle_max_size") or ev.DEFAULT_CIRCLE_MAX_SIZE
        elif event_type == ev.COHORT_STATUS_CHANGED:
            self.status = data["status"]
        elif event_type == ev.COHORT_REVISED:
            for name in data["changed"]:
                setattr(self, name, str(data[name]) if name in ("starts_on", "ends_on") else data[name])

    def settings(self) -> dict:
        """The settings a duplicate copies and a revision compares against."""
        return {name: getattr(self, name) for name in ev.COHORT_SETTINGS}


def _check_settings(*, starts_on: date, ends_on: date, max_mentor_capacity: int | None,
                    matching_style: str, format: str = DEFAULT_FORMAT, circle_min_size: int = ev.DEFAULT_CIRCLE_MIN_SIZE,
                    circle_max_size: int = ev.DEFAULT_CIRCLE_MAX_SIZE, changed: tuple[str, ...] = ()) -> None:
    if ends_on <= starts_on:
        raise Invalid("dates", "ends_on must be after starts_on", field="ends_on")
    if max_mentor_capacity is not None and not 1 <= max_mentor_capacity <= ev.MAX_CAPACITY:
        raise Invalid("max_mentor_capacity", f"must be between 1 and {ev.MAX_CAPACITY}", field="max_mentor_capacity")
    if matching_style not in MATCHING_STYLES:
        raise Invalid("matching_style", f"must be one of {', '.join(MATCHING_STYLES)}", field="matching_style")
    check_format(format=format, circle_min_size=circle_min_size, circle_max_size=circle_max_size,
                 matching_style=matching_style, changed=changed)


def check_format(*, format: str, circle_min_size: int, circle_max_size: int, matching_style: str,
                 changed: tuple[str, ...] = ()) -> None:
    """1 <= circle_min_size <= circle_max_size <= 8 (checked for pair cohorts too: a later switch to
    circles finds them valid); a circle cohort is matched by its admins (mentees choosing a mentor
    one by one has no natural meaning for a group). `changed`: what a revision changes (the 422
    names the field the request sent)."""
    if format not in FORMATS:
        raise Invalid("format", f"must be one of {', '.join(FORMATS)}", field="format")
    for name, value in (("circle_min_size", circle_min_size), ("circle_max_size", circle_max_size)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= ev.MAX_CIRCLE_SIZE:
            raise Invalid(name, f"must be between 1 and {ev.MAX_CIRCLE_SIZE}", field=name)
    if circle_min_size > circle_max_size:
        raise Invalid("circle_sizes", "circle_min_size must not be above circle_max_size",
                      field="circle_max_size" if "circle_min_size" not in changed and changed else "circle_min_size")
    if format == "circle" and matching_style != DEFAULT_MATCHING_STYLE:
        raise Invalid("circle_matching_style", "a circle cohort is matched by its admins: matching_style must be "
                                               "admin_run", field="format" if "format" in changed else "matching_style")


def create_cohort(state: CohortState, *, cohort_id: str, program_exists: bool, program_id: str, name: str,
                  starts_on: date, ends_on: date, meeting_cadence_days: int, answer_deadline_days: int,
                  rules: dict, created_by: str, max_mentor_capacity: int | None = None,
                  matching_style: str = DEFAULT_MATCHING_STYLE, duplicated_from: str | None = None,
                  format: str = DEFAULT_FORMAT, circle_min_size: int = ev.DEFAULT_CIRCLE_MIN_SIZE,
                  circle_max_size: int = ev.DEFAULT_CIRCLE_MAX_SIZE) -> list[NewEvent]:
    if state.exists:
        raise Conflict("cohort_exists", f"cohort {cohort_id} already exists")
    if not program_exists:
        raise Conflict("program_unknown", f"no programme {program_id}")
    _check_settings(starts_on=starts_on, ends_on=ends_on, max_mentor_capacity=max_mentor_capacity,
                    matching_style=matching_style, format=format, circle_min_size=circle_min_size,
                    circle_max_size=circle_max_size)
    return [NewEvent(ev.COHORT_CREATED, {
        "cohort_id": cohort_id, "program_id": program_id, "name": name, "starts_on": starts_on.isoformat(),
        "ends_on": ends_on.isoformat(), "status": "draft", "meeting_cadence_days": meeting_cadence_days,
        "answer_deadline_days": answer_deadline_days, "rules": rules, "created_by": created_by,
        "max_mentor_capacity": max_mentor_capacity, "matching_style": matching_style,
        "duplicated_from": duplicated_from, "format": format, "circle_min_size": circle_min_size,
        "circle_max_size": circle_max_size})]


def duplicate(source: CohortState, *, cohort_id: str, name: str, starts_on: date, ends_on: date,
              created_by: str) -> list[NewEvent]:
    """The next intake: a new draft cohort in the same programme with the source's settings (no enrolments)."""
    _require(source)
    settings = source.settings()
    return create_cohort(
        CohortState(), cohort_id=cohort_id, program_exists=True, program_id=str(source.program_id), name=name,
        starts_on=starts_on, ends_on=ends_on, meeting_cadence_days=settings["meeting_cadence_days"],
        answer_deadline_days=settings["answer_deadline_days"], rules=dict(settings["rules"]), created_by=created_by,
        max_mentor_capacity=settings["max_mentor_capacity"], matching_style=settings["matching_style"],
        duplicated_from=source.cohort_id, format=settings["format"], circle_min_size=settings["circle_min_size"],
        circle_max_size=settings["circle_max_size"])


def revise(state: CohortState, changes: dict, revised_by: str) -> list[NewEvent]:
    """Change some settings of an open cohort: one CohortRevised naming only what really changed.

    `changes` holds settings by name (dates as `date`); the dates are checked together with the
    stored one the request leaves alone, so moving only `ends_on` before `starts_on` is refused.
    """
    _require(state)
    if state.status == "closed":
        raise Conflict("cohort_closed", "a closed cohort's settings no longer change")
    unknown = set(changes) - set(ev.COHORT_SETTINGS)
    if unknown:
        raise Invalid("unknown_setting", f"not a cohort setting: {', '.join(sorted(unknown))}",
                      field=sorted(unknown)[0])
    current = state.settings()
    wanted = {name: value.isoformat() if isinstance(value, date) else value for name, value in changes.items()}
    changed = [name for name in ev.COHORT_SETTINGS if name in wanted and wanted[name] != current[name]]
    if not changed:
        return []
    if "format" in changed and state.status not in FORMAT_CHANGEABLE:
        raise Conflict("format_locked", f"the cohort is {state.status}: its format changes only while it is "
                                        f"{' or '.join(FORMAT_CHANGEABLE)} (before anyone is paired)", field="format")
    merged = {**current, **{name: wanted[name] for name in changed}}
    starts_on, ends_on = date.fromisoformat(str(merged["starts_on"])), date.fromisoformat(str(merged["ends_on"]))
    if ends_on <= starts_on:
        field_name = "ends_on" if "ends_on" in changed else "starts_on"
        raise Invalid("dates", "ends_on must be after starts_on", field=field_name)
    _check_settings(starts_on=starts_on, ends_on=ends_on, max_mentor_capacity=merged["max_mentor_capacity"],
                    matching_style=merged["matching_style"], format=merged["format"],
                    circle_min_size=merged["circle_min_size"], circle_max_size=merged["circle_max_size"],
                    changed=tuple(changed))
    if "name" in changed and not str(merged["name"]).strip():
        raise Invalid("name", "a cohort needs a name", field="name")
    return [NewEvent(ev.COHORT_REVISED, {"cohort_id": state.cohort_id, "program_id": state.program_id,
                                         "changed": changed, **{name: wanted[name] for name in changed},
                                         "revised_by": revised_by})]


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
