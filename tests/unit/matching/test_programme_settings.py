"""Pure domain (no servers): revising a cohort's settings, the next intake, capacity and pausing."""
from __future__ import annotations

from datetime import date

import pytest

from shared.errors import Conflict, Invalid
from shared.events.catalog import matching as ev
from services.matching.domain import cohort, enrollment
from services.matching.domain.enrollment import EnrollmentState
from tests.unit.matching.test_lifecycle import _apply, _cohort


def _enrolled(state, role="mentor", capacity=2) -> EnrollmentState:
    return _apply(EnrollmentState(), enrollment.enroll(state, EnrollmentState(), enrollment_id="e1", employee_id="M1",
                                                       role=role, capacity=capacity, topics=["python"]))


def test_a_revision_carries_only_what_changed_and_nothing_when_nothing_did():
    state = _cohort()
    events = cohort.revise(state, {"name": "C", "meeting_cadence_days": 21, "ends_on": date(2026, 10, 1),
                                   "matching_style": "both"}, "admin")
    assert [e.event_type for e in events] == [ev.COHORT_REVISED]
    assert events[0].data["changed"] == ["ends_on", "meeting_cadence_days", "matching_style"]
    assert "name" not in events[0].data
    _apply(state, events)
    assert (state.meeting_cadence_days, state.ends_on, state.matching_style) == (21, "2026-10-01", "both")
    assert cohort.revise(state, {"meeting_cadence_days": 21, "ends_on": date(2026, 10, 1)}, "admin") == []


@pytest.mark.parametrize("changes, field", [
    ({"ends_on": date(2026, 2, 1)}, "ends_on"),  # before the stored starts_on
    ({"starts_on": date(2026, 12, 1)}, "starts_on"),  # after the stored ends_on
    ({"matching_style": "lottery"}, "matching_style"),
    ({"max_mentor_capacity": 0}, "max_mentor_capacity"),
    ({"colour": "red"}, "colour"),
])
def test_a_bad_revision_names_the_field(changes, field):
    with pytest.raises(Invalid) as raised:
        cohort.revise(_cohort(), changes, "admin")
    assert raised.value.field == field


def test_a_closed_cohort_is_not_revised():
    with pytest.raises(Conflict):
        cohort.revise(_cohort("closed"), {"name": "Later"}, "admin")


def test_the_next_intake_copies_every_setting_but_name_and_dates():
    source = _cohort("active")
    _apply(source, cohort.revise(source, {"max_mentor_capacity": 3, "matching_style": "mentee_choice",
                                          "rules": {"min_level_gap": 2}, "answer_deadline_days": 5}, "admin"))
    copy = _apply(cohort.CohortState(), cohort.duplicate(source, cohort_id="c2", name="Next", starts_on=date(2026, 9, 1),
                                                         ends_on=date(2027, 3, 1), created_by="admin"))
    assert copy.cohort_id == "c2" and copy.program_id == source.program_id and copy.status == "draft"
    assert (copy.name, copy.starts_on, copy.ends_on) == ("Next", "2026-09-01", "2027-03-01")
    for name in ("meeting_cadence_days", "answer_deadline_days", "rules", "max_mentor_capacity", "matching_style"):
        assert getattr(copy, name) == getattr(source, name), name


def test_capacity_within_the_cohort_maximum_and_only_for_mentors():
    state = _cohort()
    _apply(state, cohort.revise(state, {"max_mentor_capacity": 3}, "admin"))
    mentor = _enrolled(state)
    _apply(mentor, enrollment.revise(state, mentor, capacity=1, revised_by="M1"))
    assert mentor.capacity == 1
    with pytest.raises(Invalid) as above:
        enrollment.revise(state, mentor, capacity=4, revised_by="M1")
    assert above.value.field == "capacity"
    with pytest.raises(Invalid):
        enrollment.enroll(state, EnrollmentState(), enrollment_id="e2", employee_id="M2", role="mentor", capacity=5,
                          topics=[])
    mentee = _apply(EnrollmentState(), enrollment.enroll(state, EnrollmentState(), enrollment_id="e3",
                                                         employee_id="E1", role="mentee", capacity=0, topics=[]))
    with pytest.raises(Invalid):
        enrollment.revise(state, mentee, capacity=2, revised_by="admin")


def test_pausing_is_an_event_once_and_a_withdrawn_person_cannot_be_paused():
    state = _cohort()
    mentor = _enrolled(state)
    events = enrollment.revise(state, mentor, paused=True, revised_by="admin")
    assert [e.event_type for e in events] == [ev.ENROLLMENT_REVISED] and "capacity" not in events[0].data
    _apply(mentor, events)
    assert mentor.paused and enrollment.revise(state, mentor, paused=True, revised_by="admin") == []
    _apply(mentor, enrollment.withdraw(mentor, "withdrawn"))
    with pytest.raises(Conflict):
        enrollment.revise(state, mentor, paused=False, revised_by="admin")
