"""Pure domain: cohort statuses and enrolment, the pairing lifecycle."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from shared.events.catalog import default_registry
from services.matching.domain import cohort, pairing
from services.matching.domain.cohort import CohortState
from services.matching.domain.errors import Forbidden, Invalid, InvalidState
from services.matching.domain.pairing import PairingState

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def _apply(state, events):
    registry = default_registry()
    for event in events:
        registry.validate_data(event.event_type, 1, event.data)  # every event fits its published schema
        state.apply(event.event_type, event.data)
    return state


def _cohort(status="enrolling") -> CohortState:
    state = _apply(CohortState(), cohort.create_cohort(
        CohortState(), cohort_id="c1", program_exists=True, program_id="p1", name="C", starts_on=date(2026, 3, 1),
        ends_on=date(2026, 9, 1), meeting_cadence_days=14, answer_deadline_days=7, rules={}, created_by="admin"))
    for step in cohort.STATUSES[1:cohort.STATUSES.index(status) + 1]:
        _apply(state, cohort.change_status(state, step, "admin"))
    return state


def test_cohort_status_moves_forward_one_step_or_closes():
    state = _cohort("draft")
    with pytest.raises(InvalidState):
        cohort.change_status(state, "matching", "admin")
    events = cohort.change_status(state, "enrolling", "admin")
    assert events[0].data["previous_status"] == "draft" and events[0].data["status"] == "enrolling"
    _apply(state, events)
    assert cohort.change_status(state, "enrolling", "admin") == []
    _apply(state, cohort.change_status(state, "closed", "admin"))
    with pytest.raises(InvalidState):
        cohort.change_status(state, "enrolling", "admin")


def test_enrolment_once_per_person_and_withdrawal():
    with pytest.raises(InvalidState):
        cohort.enroll(_cohort("draft"), enrollment_id="e1", employee_id="E1", role="mentee", capacity=0, topics=[])
    state = _cohort()
    _apply(state, cohort.enroll(state, enrollment_id="e1", employee_id="E1", role="mentee", capacity=0, topics=["x"]))
    with pytest.raises(InvalidState):
        cohort.enroll(state, enrollment_id="e2", employee_id="E1", role="mentor", capacity=1, topics=[])
    with pytest.raises(Invalid) as err:
        cohort.enroll(state, enrollment_id="e3", employee_id="M1", role="mentor", capacity=0, topics=[])
    assert err.value.field == "capacity"
    withdrawn = cohort.withdraw(state, "E1", "participant_left")
    assert withdrawn[0].data == {"cohort_id": "c1", "enrollment_id": "e1", "employee_id": "E1", "role": "mentee",
                                 "reason": "participant_left"}
    _apply(state, withdrawn)
    assert cohort.withdraw(state, "E1", "participant_left") == []  # idempotent
    assert cohort.enroll(state, enrollment_id="e4", employee_id="E1", role="mentee", capacity=0, topics=[])


def test_matching_run_needs_a_matching_or_active_cohort():
    kwargs = dict(run_id="r1", mode="maximize_score", input_hash="h", matched=0, unmatched=[], total_score=0.0,
                  pairing_ids=[], started_by="admin")
    with pytest.raises(InvalidState):
        cohort.complete_run(_cohort("enrolling"), **kwargs)
    assert cohort.complete_run(_cohort("matching"), **kwargs)[0].event_type == "MatchingRunCompleted"


def _proposed() -> PairingState:
    return _apply(PairingState(), pairing.propose(
        pairing_id="par1", cohort_id="c1", mentor_id="M1", mentee_id="E1", score=0.8, reasons=["shares 1 topic"],
        proposed_by="algorithm", matching_run_id="r1", answer_by=NOW + timedelta(days=7)))


def test_both_accepting_activates_in_one_command():
    state = _proposed()
    first = pairing.accept(state, actor="E1", is_admin=False, role=None, now=NOW)
    assert [e.event_type for e in first] == ["PairingAccepted"]
    assert first[0].data["accepted_by"] == "E1" and first[0].data["role"] == "mentee"
    _apply(state, first)
    assert pairing.accept(state, actor="E1", is_admin=False, role=None, now=NOW) == []
    second = pairing.accept(state, actor="M1", is_admin=False, role=None, now=NOW)
    assert [e.event_type for e in second] == ["PairingAccepted", "PairingActivated"]
    _apply(state, second)
    assert state.status == "active"
    with pytest.raises(InvalidState):
        pairing.decline(state, actor="E1", is_admin=False, role=None, reason=None)


def test_only_parties_or_admins_answer():
    state = _proposed()
    with pytest.raises(Forbidden):
        pairing.accept(state, actor="X9", is_admin=False, role=None, now=NOW)
    with pytest.raises(Forbidden):
        pairing.accept(state, actor="E1", is_admin=False, role="mentor", now=NOW)
    with pytest.raises(Invalid):
        pairing.decline(state, actor="A1", is_admin=True, role=None, reason=None)
    events = pairing.decline(state, actor="A1", is_admin=True, role="mentor", reason="no_time")
    assert events[0].data["declined_by"] == "M1"


def test_expiry_only_after_the_deadline_and_only_once():
    state = _proposed()
    assert pairing.expire(state, NOW + timedelta(days=6, hours=23)) == []
    events = pairing.expire(state, NOW + timedelta(days=7))
    assert events[0].event_type == "PairingExpired" and events[0].data["answer_by"] == state.answer_by
    _apply(state, events)
    assert pairing.expire(state, NOW + timedelta(days=30)) == []


def test_end_reasons_and_idempotence():
    state = _proposed()
    with pytest.raises(Invalid):
        pairing.end(state, reason="bored", ended_by="E1")
    with pytest.raises(Forbidden):
        pairing.end(state, reason="by_admin", ended_by="E1")
    with pytest.raises(Forbidden):
        pairing.end(state, reason="completed", ended_by="X9", actor_is_party=False)
    events = pairing.end(state, reason="participant_left", ended_by="system", actor_is_admin=True)
    assert events[0].data == {"pairing_id": "par1", "cohort_id": "c1", "mentor_id": "M1", "mentee_id": "E1",
                              "reason": "participant_left", "ended_by": "system"}
    _apply(state, events)
    assert pairing.end(state, reason="participant_left", ended_by="system", actor_is_admin=True) == []
