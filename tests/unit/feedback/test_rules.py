"""Feedback rules and privacy, without servers."""
from __future__ import annotations

from datetime import date

import pytest

from shared.errors import DomainError

from shared.events.catalog import default_registry
from services.feedback.domain.rules import (
    GiveFeedback, decide_feedback, decide_kudos, decide_review_answer, decide_survey_answer,
    meeting_feedback_id, review_due_dates, survey_due, visible_to_subject,
)

PAIRING = {"pairing_id": "P1", "cohort_id": "C1", "mentor_id": "M1", "mentee_id": "E1", "status": "active"}
MEETING = {"meeting_id": "MT1", "pairing_id": "P1", "cohort_id": "C1", "mentor_id": "M1", "mentee_id": "E1",
           "held_at": "2026-03-01T10:00:00.000Z"}


def _decide(command, *, pairing=PAIRING, meeting=MEETING, held=1, already=False):
    return decide_feedback(command, feedback_id="F1", pairing=pairing, meeting=meeting, held_meetings=held,
                           already_given=already)


def _reason(excinfo) -> tuple[int, str | None]:
    return excinfo.value.status, excinfo.value.field


def test_a_party_rates_a_held_meeting_about_the_other_party():
    event = _decide(GiveFeedback("P1", "E1", 4, meeting_id="MT1"))
    assert event.event_type == "FeedbackGiven"
    assert event.data["about_id"] == "M1" and event.data["from_id"] == "E1"
    assert event.data["rating"] == 4 and event.data["cohort_id"] == "C1" and event.data["meeting_id"] == "MT1"
    mentor_view = _decide(GiveFeedback("P1", "M1", 5, meeting_id="MT1"))
    assert mentor_view.data["about_id"] == "E1"
    default_registry().validate_data("FeedbackGiven", 1, event.data)  # the published schema accepts it


def test_a_private_comment_never_reaches_the_event():
    event = _decide(GiveFeedback("P1", "E1", 2, meeting_id="MT1", comment="He was late again", share_comment=False))
    assert "He was late again" not in str(event.data)
    assert event.data["comment_shared"] is False and event.data.get("comment") is None


def test_a_shared_comment_travels_with_the_event():
    event = _decide(GiveFeedback("P1", "E1", 5, meeting_id="MT1", comment=" Great advice ", share_comment=True))
    assert event.data["comment_shared"] is True and event.data["comment"] == "Great advice"


def test_sharing_an_empty_comment_shares_nothing():
    event = _decide(GiveFeedback("P1", "E1", 5, meeting_id="MT1", comment="   ", share_comment=True))
    assert event.data["comment_shared"] is False and event.data.get("comment") is None


def test_rating_the_same_meeting_twice_is_a_conflict():
    with pytest.raises(DomainError) as excinfo:
        _decide(GiveFeedback("P1", "E1", 4, meeting_id="MT1"), already=True)
    assert _reason(excinfo)[0] == 409


def test_someone_outside_the_meeting_cannot_rate_it():
    with pytest.raises(DomainError) as excinfo:
        _decide(GiveFeedback("P1", "X9", 4, meeting_id="MT1"))
    assert _reason(excinfo)[0] == 403


def test_a_meeting_not_yet_held_cannot_be_rated():
    with pytest.raises(DomainError) as excinfo:
        _decide(GiveFeedback("P1", "E1", 4, meeting_id="MT1"), meeting={**MEETING, "held_at": None})
    assert _reason(excinfo)[0] == 409


def test_an_unknown_meeting_or_one_of_another_pairing_is_not_found():
    with pytest.raises(DomainError) as excinfo:
        _decide(GiveFeedback("P1", "E1", 4, meeting_id="MT1"), meeting=None)
    assert _reason(excinfo) == (404, "meeting_id")
    with pytest.raises(DomainError) as excinfo:
        _decide(GiveFeedback("P2", "E1", 4, meeting_id="MT1"))
    assert _reason(excinfo)[0] == 404


def test_the_good_fit_question_opens_after_the_first_meeting():
    with pytest.raises(DomainError) as excinfo:
        _decide(GiveFeedback("P1", "E1", 3, good_fit=False), meeting=None, held=0)
    assert _reason(excinfo)[0] == 409
    event = _decide(GiveFeedback("P1", "E1", 3, good_fit=False), meeting=None, held=1)
    assert event.data["good_fit"] is False and event.data["meeting_id"] is None


def test_good_fit_cannot_be_answered_on_an_ended_pairing():
    with pytest.raises(DomainError) as excinfo:
        _decide(GiveFeedback("P1", "E1", 3, meeting_id="MT1", good_fit=False), pairing={**PAIRING, "status": "ended"})
    assert _reason(excinfo) == (409, "good_fit")


def test_rating_out_of_range_is_invalid():
    with pytest.raises(DomainError) as excinfo:
        _decide(GiveFeedback("P1", "E1", 6, meeting_id="MT1"))
    assert _reason(excinfo) == (422, "rating")


def test_meeting_feedback_ids_are_one_per_party_per_meeting():
    assert meeting_feedback_id("MT1", "E1") == meeting_feedback_id("MT1", "E1")
    assert meeting_feedback_id("MT1", "E1") != meeting_feedback_id("MT1", "M1")
    assert meeting_feedback_id("MT1", "E1") != meeting_feedback_id("MT2", "E1")


def test_the_subject_sees_a_comment_only_when_it_was_shared():
    stored = {"feedback_id": "F1", "pairing_id": "P1", "cohort_id": "C1", "meeting_id": "MT1", "from_id": "E1",
              "about_id": "M1", "rating": 2, "comment_shared": False, "comment": "private words"}
    assert visible_to_subject(stored)["comment"] is None
    assert visible_to_subject({**stored, "comment_shared": True})["comment"] == "private words"


def test_reviews_fall_due_30_days_after_activation_then_every_60():
    activated = date(2026, 1, 1)
    assert review_due_dates(activated, date(2026, 1, 30)) == []
    assert review_due_dates(activated, date(2026, 1, 31)) == [date(2026, 1, 31)]
    assert review_due_dates(activated, date(2026, 5, 31)) == [date(2026, 1, 31), date(2026, 4, 1), date(2026, 5, 31)]
    assert review_due_dates(activated, date(2026, 12, 31), ends_on=date(2026, 4, 30)) == [date(2026, 1, 31), date(2026, 4, 1)]
    assert review_due_dates(activated, date(2026, 3, 1), first_after_days=14, every_days=14)[-1] == date(2026, 2, 26)


def test_a_review_is_answered_once_and_only_by_the_person_asked():
    requested = {"review_id": "R1", "pairing_id": "P1", "cohort_id": "C1", "employee_id": "E1", "due_on": "2026-01-31"}
    event = decide_review_answer(requested, False, "E1", 4, 5, respondent="p-1")
    assert event.data == {"review_id": "R1", "pairing_id": "P1", "cohort_id": "C1", "respondent": "p-1"}  # no scores
    for args, status in (((requested, True, "E1", 4, 5), 409), ((requested, False, "M1", 4, 5), 403),
                         ((None, False, "E1", 4, 5), 404), ((requested, False, "E1", 0, 5), 422)):
        with pytest.raises(DomainError) as excinfo:
            decide_review_answer(*args, respondent="p-1")
        assert excinfo.value.status == status


def test_the_survey_is_due_when_the_cohort_closes_or_its_end_passes():
    assert survey_due({"status": "closed", "ends_on": "2027-01-01"}, date(2026, 6, 1))
    assert not survey_due({"status": "active", "ends_on": "2026-06-01"}, date(2026, 6, 1))
    assert survey_due({"status": "active", "ends_on": "2026-06-01"}, date(2026, 6, 2))


def test_a_survey_is_answered_once_by_its_addressee():
    requested = {"survey_id": "S1", "cohort_id": "C1", "employee_id": "E1"}
    assert decide_survey_answer(requested, False, "E1", 10, respondent="p-1").data == {
        "survey_id": "S1", "cohort_id": "C1", "respondent": "p-1"}
    for args, status in (((requested, True, "E1", 9), 409), ((requested, False, "M1", 9), 403),
                         ((requested, False, "E1", 11), 422)):
        with pytest.raises(DomainError) as excinfo:
            decide_survey_answer(*args, respondent="p-1")
        assert excinfo.value.status == status


def test_kudos_go_to_the_other_party_without_the_note():
    event = decide_kudos(PAIRING, "E1", "K1", "Thank you for the intro to the platform team!")
    assert event.data["to_id"] == "M1" and event.data["from_id"] == "E1"
    assert "Thank you" not in str(event.data)
    with pytest.raises(DomainError) as excinfo:
        decide_kudos(PAIRING, "X9", "K1", "hi")
    assert excinfo.value.status == 403
    with pytest.raises(DomainError) as excinfo:
        decide_kudos({**PAIRING, "status": "proposed"}, "E1", "K1", "hi")
    assert excinfo.value.status == 409


def test_a_completed_pairing_still_takes_thanks_and_ratings_but_not_a_fit_verdict():
    """Issue 15: the cohort's close completes the pairing and prompts the mentee to thank the mentor."""
    completed = {**PAIRING, "status": "completed"}
    assert decide_kudos(completed, "E1", "K1", "Thank you for these months!").data["to_id"] == "M1"
    assert _decide(GiveFeedback(pairing_id="P1", from_id="E1", rating=5), pairing=completed).data["rating"] == 5
    with pytest.raises(DomainError) as excinfo:
        _decide(GiveFeedback(pairing_id="P1", from_id="E1", rating=2, good_fit=False), pairing=completed)
    assert _reason(excinfo) == (409, "good_fit")
