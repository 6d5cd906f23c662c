"""Command handlers, views, the run processor and the policies, on in-memory adapters."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.errors import Conflict, Invalid
from shared.events.catalog import matching as ev
from services.matching.application.commands import Actor
from services.matching.domain.pairing import pairing_id_for_run
from tests.unit.matching.conftest import ADMIN, REQUEST


def test_requests_never_write_views(matching):
    """A stopped views projector: the commands still decide and answer, the views stay empty."""
    matching.projector.paused = True
    cohort_id = matching.populated()
    assert matching.database["cohorts"].docs == {} and matching.database["enrollments"].docs == {}
    matching.projector.paused = False
    matching.projector.catch_up()
    assert matching.views.cohorts.get(cohort_id)["status"] == "matching"
    assert len(matching.views.enrollments_of_cohort(cohort_id)) == 5


def test_a_double_enrolment_is_refused_by_the_enrolment_stream_even_with_stale_views(matching):
    matching.hire("E100")
    cohort_id = matching.cohort(status="enrolling")
    matching.enroll(cohort_id, "E100", "mentee")
    matching.projector.paused = True
    matching.database["enrollments"].drop()  # a view a crash could have left behind: it decides nothing
    with pytest.raises(Conflict) as refused:
        matching.enroll(cohort_id, "E100", "mentor", capacity=1)
    assert refused.value.code == "already_enrolled"


def test_enrolment_preferences_are_stored_with_the_event_never_in_it(matching):
    matching.hire("E100")
    cohort_id = matching.cohort(status="enrolling")
    matching.enroll(cohort_id, "E100", "mentee", goals_summary="Grow into a lead",
                    preferences={"same_timezone": True, "exclude": ["M9"]})
    loaded = matching.store.load(f"{cohort_id}|E100")
    event = loaded.events[0]
    assert "Grow" not in json.dumps(event.to_dict()) and "M9" not in json.dumps(event.to_dict())
    assert loaded.private[event.event_id]["goals_summary"] == "Grow into a lead"
    doc = matching.views.enrollments.get(f"{cohort_id}|E100")
    assert doc["goals_summary"] == "Grow into a lead" and doc["preferences"]["exclude"] == ["M9"]
    # a rebuild of the views gets the private text back from the commit
    matching.views_projection.reset()
    matching.projector.rewind()
    matching.projector.catch_up()
    assert matching.views.enrollments.get(f"{cohort_id}|E100")["goals_summary"] == "Grow into a lead"


def test_a_run_is_requested_then_computed_by_the_worker(matching):
    cohort_id = matching.populated()
    accepted = matching.commands.request_run(cohort_id, mode="maximize_score", dry_run=False, actor=ADMIN,
                                             causation=REQUEST)
    assert accepted["status"] == "running"
    assert matching.result(accepted["run_id"])["status"] == "running"  # nothing computed in the request
    assert matching.pairings(cohort_id) == {}
    matching.work()
    result = matching.result(accepted["run_id"])
    assert result["status"] == "completed" and result["matched"] == 3 and result["progress"]["phase"] == "done"
    pairs = {(p["mentor_id"], p["mentee_id"]) for p in result["proposals"]}
    assert ("M001", "E001") not in pairs  # M001 manages E001
    pairings = matching.pairings(cohort_id)
    assert set(pairings) == {p["pairing_id"] for p in result["proposals"]}
    assert all(pid == pairing_id_for_run(accepted["run_id"], doc["mentee_id"]) for pid, doc in pairings.items())
    assert all(doc["status"] == "proposed" and doc["matching_run_id"] == accepted["run_id"]
               for doc in pairings.values())
    assert matching.types(accepted["run_id"]) == [ev.MATCHING_RUN_REQUESTED, ev.MATCHING_RUN_RESULT_CHUNK,
                                                  ev.MATCHING_RUN_COMPLETED, ev.MATCHING_RUN_PROPOSALS_CREATED]
    assert matching.views.cohorts.get(cohort_id)["runs"] == [accepted["run_id"]]
    # a second run finds nobody unpaired: no mentee is proposed twice
    again = matching.run(cohort_id)
    assert again["status"] == "completed" and again["matched"] == 0 and again["proposals"] == []


def test_a_dry_run_stores_its_preview_and_proposes_nothing(matching):
    cohort_id = matching.populated()
    preview = matching.run(cohort_id, dry_run=True)
    assert preview["status"] == "completed" and preview["dry_run"] and preview["matched"] == 3
    assert all(p["pairing_id"] is None for p in preview["proposals"])
    assert matching.pairings(cohort_id) == {}
    assert matching.views.cohorts.get(cohort_id)["runs"] == []
    real = matching.run(cohort_id)
    assert real["input_hash"] == preview["input_hash"]
    assert {(p["mentor_id"], p["mentee_id"]) for p in real["proposals"]} == {
        (p["mentor_id"], p["mentee_id"]) for p in preview["proposals"]}


def test_a_replayed_run_creates_nothing_twice(matching):
    cohort_id = matching.populated()
    result = matching.run(cohort_id)
    position = matching.store.current_position()
    matching.runs.rewind()  # the process manager sees every commit again (redelivery, a lost checkpoint)
    matching.work()
    assert matching.store.current_position() == position
    assert len(matching.pairings(cohort_id)) == result["matched"] == 3


def test_a_crash_after_the_outcome_completes_the_pairings_exactly_once(matching):
    cohort_id = matching.populated()
    accepted = matching.commands.request_run(cohort_id, mode="maximize_score", dry_run=False, actor=ADMIN,
                                             causation=REQUEST)
    matching.processor.execute(accepted["run_id"], REQUEST)  # the outcome is stored, then the worker dies
    state, _ = matching.commands.run(accepted["run_id"])
    first = state.proposals[0]
    from services.matching.domain import pairing as pairings

    # one pairing made it before the crash
    matching.commands.pairings.append(first["pairing_id"], 0, pairings.propose(
        pairing_id=first["pairing_id"], cohort_id=cohort_id, mentor_id=first["mentor_id"],
        mentee_id=first["mentee_id"], score=first["score"], reasons=first["reasons"], proposed_by="algorithm",
        matching_run_id=accepted["run_id"], answer_by=matching.clock.now() + timedelta(days=7)), REQUEST)
    matching.work()  # restart: the request is processed again
    assert matching.result(accepted["run_id"])["status"] == "completed"
    for proposal in state.proposals:
        assert matching.types(proposal["pairing_id"]) == [ev.PAIRING_PROPOSED]
    assert len(matching.pairings(cohort_id)) == 3


def test_a_run_that_cannot_be_computed_fails_visibly(matching, monkeypatch):
    cohort_id = matching.populated()

    def broken(*args, **kwargs):
        raise ValueError("solver exploded")

    monkeypatch.setattr("services.matching.application.runs.assign", broken)
    result = matching.run(cohort_id)
    assert result["status"] == "failed" and result["failure"]["reason"] == "error"
    assert "solver exploded" in result["failure"]["detail"]


def test_a_run_on_a_cohort_closed_meanwhile_fails_visibly(matching):
    cohort_id = matching.populated()
    accepted = matching.commands.request_run(cohort_id, mode="maximize_score", dry_run=False, actor=ADMIN,
                                             causation=REQUEST)
    matching.commands.change_cohort_status(cohort_id, "closed", ADMIN, REQUEST)
    matching.work()
    result = matching.result(accepted["run_id"])
    assert result["status"] == "failed" and result["failure"]["reason"] == "cohort_not_matching"


def test_no_record_grows_with_the_cohort():
    """A 20k-mentee result is chunked: every event stays far below Kafka's 1 MB record limit."""
    from services.matching.domain import run
    from services.matching.domain.run import RunState

    state = RunState(run_id="r1", cohort_id="c1", mode="maximize_score", requested_by="A", status="running")
    proposals = [{"pairing_id": pairing_id_for_run("r1", f"E{i:06d}"), "mentor_id": f"M{i % 4000:06d}",
                  "mentee_id": f"E{i:06d}", "score": 0.8123,
                  "reasons": ["shares 3 topics: python, leadership, sql", "2h apart", "different departments"]}
                 for i in range(20_000)]
    unmatched = [{"mentee_id": f"U{i:06d}", "reason": "seats_exhausted", "detail": "every eligible mentor is full"}
                 for i in range(5_000)]
    events = run.complete(state, input_hash="h", proposals=proposals, unmatched=unmatched, total_score=1.0,
                          answer_by=None)
    sizes = [len(json.dumps(event.data)) for event in events]
    assert max(sizes) < 300_000 and len(events) == 41
    assert events[-1].data["matched"] == 20_000 and events[-1].data["unmatched"] == 5_000


def test_manual_proposal_decides_on_streams_and_names_broken_rules(matching):
    cohort_id = matching.populated()
    from services.matching.application.inputs import RuleViolations

    with pytest.raises(RuleViolations) as chain:
        matching.commands.propose_manually(cohort_id, "M001", "E001", ADMIN, REQUEST)
    assert chain.value.rules == ["management_chain"]
    with pytest.raises(Invalid):
        matching.commands.propose_manually(cohort_id, "E002", "E003", ADMIN, REQUEST)
    made = matching.commands.propose_manually(cohort_id, "M002", "E003", ADMIN, REQUEST)
    assert made["status"] == "proposed" and made["proposed_by"] == ADMIN.subject
    with pytest.raises(Conflict):
        matching.commands.propose_manually(cohort_id, "M001", "E003", ADMIN, REQUEST)


def test_answers_come_from_the_aggregate_and_the_views_follow(matching):
    cohort_id = matching.populated()
    matching.run(cohort_id)
    pid = next(p for p, doc in matching.pairings(cohort_id).items() if doc["mentee_id"] == "E002")
    mentor = matching.pairings(cohort_id)[pid]["mentor_id"]
    matching.projector.paused = True
    first = matching.commands.accept(pid, Actor("E002", False), None, REQUEST)
    assert first["status"] == "proposed" and first["mentee_accepted"]
    second = matching.commands.accept(pid, Actor(mentor, False), None, REQUEST)
    assert second["status"] == "active"
    matching.projector.paused = False
    assert matching.pairings(cohort_id)[pid]["status"] == "active"


def test_unanswered_proposals_expire_once(matching):
    cohort_id = matching.populated()
    matching.run(cohort_id)
    matching.clock.advance(days=6, hours=23)
    assert matching.commands.expire_overdue() == 0
    matching.clock.advance(hours=1)
    assert matching.commands.expire_overdue() == 3
    assert matching.commands.expire_overdue() == 0
    assert {doc["status"] for doc in matching.pairings(cohort_id).values()} == {"expired"}


def test_withdrawal_ends_open_pairings_even_if_the_request_died_after_the_append(matching):
    cohort_id = matching.populated()
    matching.run(cohort_id)
    pid = next(p for p, doc in matching.pairings(cohort_id).items() if doc["mentee_id"] == "E002")
    # the request appended the withdrawal and died before ending the pairing
    from services.matching.domain import enrollment

    state, version = matching.commands.enrollment(cohort_id, "E002")
    matching.commands.enrollments.append(f"{cohort_id}|E002", version, enrollment.withdraw(state, "withdrawn"),
                                         REQUEST, occurred_at=matching.clock.now())
    matching.work()  # the run processor reacts to EnrollmentWithdrawn
    assert matching.pairings(cohort_id)[pid]["status"] == "ended"
    assert matching.pairings(cohort_id)[pid]["end_reason"] == "participant_left"


def test_the_views_rebuilt_from_the_store_equal_the_live_ones(matching):
    cohort_id = matching.populated()
    matching.run(cohort_id, dry_run=True)
    matching.run(cohort_id)
    pid = next(iter(matching.pairings(cohort_id)))
    matching.commands.end(pid, "by_admin", ADMIN, REQUEST)
    matching.commands.withdraw(cohort_id, "E003", "by_admin", ADMIN, REQUEST)
    live = matching.view_state()
    matching.views_projection.reset()
    matching.projector.rewind()
    matching.projector.catch_up()
    assert matching.view_state() == live
    matching.projector.rewind()  # applying everything twice = once
    matching.projector.catch_up()
    assert matching.view_state() == live


def test_not_a_fit_feedback_ends_the_pairing_once(matching):
    import uuid

    from shared.events.envelope import Envelope

    cohort_id = matching.populated()
    matching.run(cohort_id)
    pid, doc = next(iter(matching.pairings(cohort_id).items()))

    def feedback(good_fit):
        return Envelope(event_id=str(uuid.uuid4()), event_type="FeedbackGiven", schema_version=1,
                        occurred_at="2026-03-20T10:00:00.000Z", producer="feedback", aggregate_type="feedback",
                        aggregate_id="fb-1", aggregate_version=1, correlation_id="c", causation_id=None,
                        data={"pairing_id": pid, "cohort_id": cohort_id, "from_id": doc["mentee_id"],
                              "good_fit": good_fit})

    matching.not_a_fit.feedback_given(feedback(True))
    matching.not_a_fit.feedback_given(feedback(None))
    assert matching.types(pid) == [ev.PAIRING_PROPOSED]
    bad = feedback(False)
    matching.not_a_fit.feedback_given(bad)
    matching.not_a_fit.feedback_given(bad)  # redelivered
    assert matching.types(pid) == [ev.PAIRING_PROPOSED, ev.PAIRING_ENDED]
    assert matching.pairings(cohort_id)[pid]["end_reason"] == "not_a_fit"


def test_a_run_reads_its_people_and_their_managers_by_id_never_the_whole_directory(matching):
    cohort_id = matching.populated()
    matching.hire("X001", level=9)  # not enrolled, nobody's manager: never read
    matching.hire("B001", level=9)  # M001's manager: read for the chain, once
    matching.hire("M001", level=7, manager_id="B001", occurred_at="2026-01-02T00:00:00Z")
    reads = []
    collection = matching.participants.collection
    original = collection.find_one
    collection.find_one = lambda query, *a, **k: reads.append(query["_id"]) or original(query, *a, **k)
    collection.scans.clear()
    result = matching.run(cohort_id, dry_run=True)
    assert collection.scans == []
    assert sorted(reads) == ["B001", "E001", "E002", "E003", "M001", "M002"]
    # the chains are whole: E001 reports to M001, so that pair breaks the management-chain rule
    assert result["proposals"] and ("M001", "E001") not in {(p["mentor_id"], p["mentee_id"]) for p in result["proposals"]}
