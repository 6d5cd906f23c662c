"""Pure domain: cohort statuses and enrolment, the pairing lifecycle."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from shared.events.catalog import default_registry
from shared.errors import Conflict as InvalidState
from shared.errors import Forbidden, Invalid
from services.matching.domain import cohort, enrollment, pairing, run
from services.matching.domain.cohort import CohortState
from services.matching.domain.enrollment import EnrollmentState
from services.matching.domain.pairing import PairingState
from services.matching.domain.run import RunState

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def _apply(state, events):
    registry = default_registry()
    for event in events:
        # every event fits its published schema
        registry.validate_data(event.event_type, registry.current_version(event.event_type), event.data)
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


def _enrol(cohort_state, state, employee_id, role="mentee", capacity=0, at="2026-03-02T09:00:00Z"):
    events = enrollment.enroll(cohort_state, state, enrollment_id=f"e-{employee_id}", employee_id=employee_id,
                               role=role, capacity=capacity, topics=["x"])
    for event in events:
        default_registry().validate_data(event.event_type, 1, event.data)
        state.apply(event.event_type, event.data, at)
    return events


def test_enrolment_once_per_person_and_withdrawal():
    with pytest.raises(InvalidState):
        _enrol(_cohort("draft"), EnrollmentState(), "E1")
    state = EnrollmentState()
    _enrol(_cohort(), state, "E1")
    with pytest.raises(InvalidState):
        _enrol(_cohort(), state, "E1", role="mentor", capacity=1)
    with pytest.raises(Invalid) as err:
        _enrol(_cohort(), EnrollmentState(), "M1", role="mentor", capacity=0)
    assert err.value.field == "capacity"
    withdrawn = enrollment.withdraw(state, "participant_left")
    assert withdrawn[0].data == {"cohort_id": "c1", "enrollment_id": "e-E1", "employee_id": "E1", "role": "mentee",
                                 "reason": "participant_left"}
    for event in withdrawn:
        state.apply(event.event_type, event.data)
    assert enrollment.withdraw(state, "participant_left") == []  # idempotent
    assert _enrol(_cohort(), state, "E1")  # re-enrol on the same stream after a withdrawal


def test_a_termination_withdraws_only_an_enrolment_that_began_before_it():
    state = EnrollmentState()
    _enrol(_cohort(), state, "E1", at="2026-03-05T00:00:00Z")
    assert enrollment.withdraw_on_termination(state, "2026-03-04T00:00:00Z") == []  # a rehire's enrolment
    assert enrollment.withdraw_on_termination(state, "2026-03-06T00:00:00Z")[0].data["reason"] == "participant_left"


def test_matching_run_needs_a_matching_or_active_cohort():
    with pytest.raises(InvalidState):
        run.request(_cohort("enrolling"), run_id="r1", mode="maximize_score", dry_run=False, requested_by="admin")
    events = run.request(_cohort("matching"), run_id="r1", mode="maximize_score", dry_run=False, requested_by="admin")
    assert [e.event_type for e in events] == ["MatchingRunRequested"]


def test_a_run_result_is_chunked_and_decided_once():
    state = _apply(RunState(), run.request(_cohort("matching"), run_id="r1", mode="maximize_score", dry_run=False,
                                           requested_by="admin"))
    proposals = [{"pairing_id": f"p{i}", "mentor_id": "M", "mentee_id": f"E{i}", "score": 0.5, "reasons": ["r"]}
                 for i in range(5)]
    events = run.complete(state, input_hash="h", proposals=proposals, unmatched=[], total_score=2.5, answer_by=NOW,
                          chunk_size=2)
    assert [e.event_type for e in events] == ["MatchingRunResultChunk"] * 3 + ["MatchingRunCompleted"]
    assert [len(e.data["proposals"]) for e in events[:3]] == [2, 2, 1]
    assert events[-1].data["matched"] == 5 and events[-1].data["chunks"] == 3
    registry = default_registry()
    for event in events:
        registry.validate_data(event.event_type, registry.current_version(event.event_type), event.data)
        state.apply(event.event_type, event.data)
    assert state.status == "completed" and len(state.proposals) == 5
    assert run.complete(state, input_hash="h", proposals=[], unmatched=[], total_score=0, answer_by=NOW) == []
    assert run.fail(state, "error") == []
    created = run.proposals_created(state)
    assert created[0].data["proposed"] == 5
    state.apply(created[0].event_type, created[0].data)
    assert run.proposals_created(state) == []


def _proposed() -> PairingState:
    return _apply(PairingState(), pairing.propose(
        pairing_id="par1", cohort_id="c1", mentor_id="M1", mentee_id="E1", score=0.8, reasons=["shares 1 topic"],
        proposed_by="algorithm", matching_run_id="r1", answer_by=NOW + timedelta(days=7)))


def test_both_accepting_activates_in_one_command():
    state = _proposed()
    first = pairing.accept(state, actor="E1", is_admin=False, role=None, now=NOW)
    assert [e.event_type for e in first] == ["PairingAccepted"]
    assert first[0].data["accepted_by"] == "E1" and first[0].data["role"] == "mentee"
    assert "on_behalf_of" not in first[0].data  # the mentee answered themselves
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
    # who clicked, and for whom: never "declined by the mentor" when an admin did it
    assert events[0].data["declined_by"] == "A1" and events[0].data["on_behalf_of"] == "M1"
    accepted = pairing.accept(state, actor="A1", is_admin=True, role="mentee", now=NOW)
    assert accepted[0].data["accepted_by"] == "A1" and accepted[0].data["on_behalf_of"] == "E1"
    assert accepted[0].data["role"] == "mentee"


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


def test_a_termination_ends_only_a_pairing_proposed_before_it():
    state = _proposed()
    state.proposed_at = "2026-03-05T00:00:00Z"
    assert pairing.end_on_termination(state, employee_id="E1", terminated_at="2026-03-04T00:00:00Z") == []
    assert pairing.end_on_termination(state, employee_id="X9", terminated_at="2026-03-06T00:00:00Z") == []
    ended = pairing.end_on_termination(state, employee_id="M1", terminated_at="2026-03-06T00:00:00Z")
    assert ended[0].data["reason"] == "participant_left" and ended[0].data["ended_by"] == "system"


def test_run_pairing_ids_are_computed():
    assert pairing.pairing_id_for_run("r1", "E1") == pairing.pairing_id_for_run("r1", "E1")
    assert pairing.pairing_id_for_run("r1", "E1") != pairing.pairing_id_for_run("r2", "E1")
