"""Mentee choice (issue 15): suggestions and requests, on the in-memory matching service."""
from __future__ import annotations

import json

import pytest

from shared.aggregate import Causation
from shared.errors import Conflict, Forbidden, Invalid
from shared.events.catalog import matching as ev
from services.matching.application.commands import Actor
from services.matching.domain.assignment import (
    MenteeCandidate, MentorCandidate, assign, goal_topics, score_pair, suggest_mentors,
)
from tests.unit.matching.conftest import ADMIN, REQUEST


def party(subject: str) -> Actor:
    return Actor(subject, False)


def _choosing(matching, style="mentee_choice", **rules) -> str:
    """M001 (2 seats, python), M002 (1 seat, sales), M003 (1 seat, python, E001's manager chain is
    M001), mentees E001..E003; the cohort lets mentees choose."""
    matching.hire("M003", level=7, department="Finance")
    cohort_id = matching.populated(**rules)
    matching.enroll(cohort_id, "M003", "mentor", capacity=1, topics=["python", "public-speaking"])
    matching.commands.revise_cohort(cohort_id, {"matching_style": style}, ADMIN, REQUEST)
    return cohort_id


def _ask(matching, cohort_id, mentee, mentor, message=None, request_id="r1"):
    return matching.commands.request_mentor(cohort_id, mentee, mentor, message,
                                            Causation(correlation_id=f"{mentee}-{request_id}", causation_id=None))


def test_suggestions_rank_eligible_mentors_by_the_optimisers_score_and_skip_the_hard_rules(matching):
    cohort_id = _choosing(matching)
    found = matching.commands.suggestions(cohort_id, "E001", limit=10)
    ids = [item["mentor_id"] for item in found["items"]]
    assert "M001" not in ids  # E001's manager: the management-chain rule holds for suggestions too
    assert ids == ["M003", "M002"] and found["eligible"] == 2 and found["can_request"]
    assert [item["score"] for item in found["items"]] == sorted((i["score"] for i in found["items"]), reverse=True)
    # the optimiser's own score of each pair, its reasons and the seats left
    mentor = found["items"][0]
    assert mentor["seats_left"] == 1 and any("python" in reason for reason in mentor["reasons"])
    assert mentor["card"]["employee_id"] == "M003" and "email" not in mentor["card"]
    assert matching.commands.suggestions(cohort_id, "E001", limit=1)["items"][0]["mentor_id"] == "M003"


def test_a_request_holds_the_mentors_seat_for_other_suggestions_and_for_runs(matching):
    cohort_id = _choosing(matching)
    assert "M003" in [i["mentor_id"] for i in matching.commands.suggestions(cohort_id, "E003", limit=10)["items"]]
    pairing = _ask(matching, cohort_id, "E002", "M003", message="I would love your help with talks")
    assert (pairing["status"], pairing["proposed_by"], pairing["matching_run_id"]) == ("proposed", "E002", None)
    assert pairing["mentee_accepted"] and not pairing["mentor_accepted"]
    # M003's only seat is held: E003 is not offered M003, and asking them is refused naming the field
    assert "M003" not in [i["mentor_id"] for i in matching.commands.suggestions(cohort_id, "E003", limit=10)["items"]]
    with pytest.raises(Invalid) as refused:
        _ask(matching, cohort_id, "E003", "M003")
    assert (refused.value.code, refused.value.field) == ("no_seats_left", "mentor_id")
    # a run proposes the other mentees around the request, never a second pairing for E002 or M003
    result = matching.run(cohort_id)
    pairs = {(p["mentor_id"], p["mentee_id"]) for p in result["proposals"]}
    assert all(mentee != "E002" and mentor != "M003" for mentor, mentee in pairs)
    # the mentor accepts through the ordinary route: the pairing is active
    accepted = matching.commands.accept(pairing["pairing_id"], party("M003"), None, REQUEST)
    assert accepted["status"] == "active"


def test_one_open_request_per_mentee_and_none_for_a_paired_mentee(matching):
    cohort_id = _choosing(matching)
    first = _ask(matching, cohort_id, "E002", "M003")
    with pytest.raises(Conflict) as twice:
        _ask(matching, cohort_id, "E002", "M002", request_id="r2")
    assert twice.value.code == "request_open" and twice.value.extra["pairing_id"] == first["pairing_id"]
    assert _ask(matching, cohort_id, "E002", "M003")["pairing_id"] == first["pairing_id"]  # the same request again
    assert matching.commands.suggestions(cohort_id, "E002", limit=5)["open_pairing_id"] == first["pairing_id"]
    # an admin's proposal pairs E003: no request from E003 then
    matching.commands.propose_manually(cohort_id, "M002", "E003", ADMIN, REQUEST)
    with pytest.raises(Conflict) as paired:
        _ask(matching, cohort_id, "E003", "M001")
    assert paired.value.code == "mentee_paired"
    # declined, the request no longer blocks; the pair is never proposed again
    matching.commands.decline(first["pairing_id"], party("M003"), None, None, REQUEST)
    assert "M003" not in [i["mentor_id"] for i in matching.commands.suggestions(cohort_id, "E002", limit=9)["items"]]
    assert _ask(matching, cohort_id, "E002", "M001", request_id="r3")["status"] == "proposed"


def test_bad_requests_name_the_field_and_admin_run_cohorts_refuse_choice(matching):
    cohort_id = _choosing(matching)
    for mentor, code in (("E003", "mentor_unknown"), ("NOBODY", "mentor_unknown"), ("M001", "not_eligible")):
        with pytest.raises(Invalid) as refused:
            _ask(matching, cohort_id, "E001", mentor)
        assert (refused.value.code, refused.value.field) == (code, "mentor_id")
    with pytest.raises(Forbidden):
        matching.commands.suggestions(cohort_id, "M002", limit=5)  # a mentor is no choosing mentee
    matching.commands.revise_cohort(cohort_id, {"matching_style": "admin_run"}, ADMIN, REQUEST)
    for call in (lambda: matching.commands.suggestions(cohort_id, "E001", limit=5),
                 lambda: _ask(matching, cohort_id, "E001", "M003")):
        with pytest.raises(Conflict) as off:
            call()
        assert off.value.code == "mentee_choice_off"


def test_the_message_stays_out_of_the_event_and_reaches_the_pairing_view(matching):
    cohort_id = _choosing(matching, style="both")
    pairing = _ask(matching, cohort_id, "E002", "M003", message="PERSONAL WORDS")
    loaded = matching.store.load(pairing["pairing_id"])
    assert [e.event_type for e in loaded.events] == [ev.PAIRING_PROPOSED, ev.PAIRING_ACCEPTED]
    assert "PERSONAL WORDS" not in json.dumps([e.to_dict() for e in loaded.events])
    assert loaded.private[loaded.events[0].event_id] == {"message": "PERSONAL WORDS"}
    assert matching.views.pairings.get(pairing["pairing_id"])["message"] == "PERSONAL WORDS"
    matching.commands.accept(pairing["pairing_id"], party("M003"), None, REQUEST)
    assert matching.views.pairings.get(pairing["pairing_id"])["message"] == "PERSONAL WORDS"  # kept along


# -- the score: goals summary ---------------------------------------------------------------------

def test_goal_topics_are_the_topic_keys_a_summary_names():
    assert goal_topics("Grow in public speaking and Python.", {"public-speaking", "python", "sales"}) == (
        "python", "public-speaking")
    assert goal_topics(None) == () and "grow-in" in goal_topics("grow in")


def test_the_goals_summary_changes_the_score_and_the_ranking():
    speaking = MentorCandidate("M1", level=7, languages=("en",), topics=("public-speaking",))
    python = MentorCandidate("M2", level=7, languages=("en",), topics=("python",))
    plain = MenteeCandidate("E1", level=3, languages=("en",), topics=("python", "public-speaking"))
    keen = MenteeCandidate("E1", level=3, languages=("en",), topics=("python", "public-speaking"),
                           goal_topics=goal_topics("I want to get better at public speaking"))
    assert score_pair(speaking, plain)[0] == score_pair(python, plain)[0]
    assert score_pair(speaking, keen)[0] > score_pair(speaking, plain)[0] > score_pair(python, keen)[0]
    assert "goals mention: public speaking" in score_pair(speaking, keen)[1]
    # a goal topic the mentee does not list counts where the mentor offers it, the topic part at most 1
    unlisted = MenteeCandidate("E1", level=3, languages=("en",), topics=("python",),
                               goal_topics=goal_topics("public speaking"))
    both = MentorCandidate("M3", level=7, languages=("en",), topics=("python", "public-speaking"))
    assert score_pair(speaking, unlisted)[0] > score_pair(speaking, MenteeCandidate(
        "E1", level=3, languages=("en",), topics=("python",)))[0]
    assert score_pair(both, unlisted)[0] == score_pair(python, unlisted)[0]  # already all of the topic part
    # suggestions follow, and are the optimiser's scores
    found, eligible = suggest_mentors([python, speaking], keen)
    assert [s.mentor_id for s in found] == ["M1", "M2"] and eligible == 2
    run = assign([speaking], [keen])
    assert run.assignments[0].score == found[0].score


def test_a_requests_message_is_exported_to_the_mentee_who_wrote_it_not_to_the_mentor():
    from services.matching.application.export import WITHHELD, _without_others_words

    pairing = {"_id": "req-1", "mentor_id": "M003", "mentee_id": "E002", "message": "PERSONAL WORDS"}
    assert _without_others_words(pairing, "E002")["message"] == "PERSONAL WORDS"
    assert "message" not in _without_others_words(pairing, "M003")
    assert any("request" in reason for reason in WITHHELD)
