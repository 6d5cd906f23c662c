"""Progress reviews on the cohort's rhythm and the end-of-cohort survey, with a manual clock."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shared import topics
from shared.clock import ManualClock
from services.feedback.bootstrap import pseudonym_key
from services.feedback.api import create_app
from services.feedback.domain.pseudonym import pseudonym
from tests.helpers import decode, read_topic, wait_until
from tests.integration.feedback.support import (
    RunningWorker, auth, cohort_closed, cohort_created, days_later, envelope, pairing_activated, pairing_proposed,
    publish,
)

pytestmark = pytest.mark.integration


def _at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T12:00:00+00:00").astimezone(timezone.utc)


def test_reviews_fall_due_on_the_rhythm_and_the_survey_goes_out_when_the_cohort_closes(make_settings):
    settings = make_settings("feedback")
    enrolled = envelope("ParticipantEnrolled", "cohort", "C1", 2, {
        "cohort_id": "C1", "enrollment_id": "EN9", "employee_id": "U9", "role": "mentee", "capacity": 0,
        "topics": ["python"]}, producer="matching")
    publish(settings, topics.MATCHING, [cohort_created(), enrolled, pairing_proposed(), pairing_activated()])
    clock = ManualClock(_at("2026-01-30"))
    with RunningWorker(settings, clock) as worker:
        service = worker.context.commands
        wait_until(lambda: (worker.context.models.pairing("P1") or {}).get("status") == "active",
                   message="pairing projected")
        assert service.request_due_reviews() == 0  # 29 days after activation
        clock.set(_at("2026-01-31"))
        assert service.request_due_reviews() == 2
        assert service.request_due_reviews() == 0  # running again asks nobody twice
        clock.set(_at("2026-03-31"))
        assert service.request_due_reviews() == 0

        client = create_app(settings, clock).test_client()
        mentee, mentor = auth(settings, "E1"), auth(settings, "M1")
        wait_until(lambda: client.get("/v1/me/reviews", headers=mentee).json["items"], message="review listed")
        review = client.get("/v1/me/reviews", headers=mentee).json["items"][0]
        assert review["due_on"] == "2026-01-31" and review["submitted"] is False
        assert client.post(f"/v1/reviews/{review['review_id']}/answers", headers=mentor,
                           json={"goal_progress": 3, "satisfaction": 4}).status_code == 403
        answered = client.post(f"/v1/reviews/{review['review_id']}/answers", headers=mentee,
                               json={"goal_progress": 3, "satisfaction": 4})
        assert answered.status_code == 201 and answered.json == {"review_id": review["review_id"]}
        assert client.post(f"/v1/reviews/{review['review_id']}/answers", headers=mentee,
                           json={"goal_progress": 5, "satisfaction": 5}).status_code == 409
        clock.set(_at("2026-04-01"))
        assert service.request_due_reviews() == 2  # 30 + 60 days

        publish(settings, topics.MATCHING, [cohort_closed(version=3)])
        wait_until(lambda: client.get("/v1/me/surveys", headers=mentee).json["items"], message="survey sent")
        assert service.request_due_surveys() == 0  # already sent when the cohort closed
        survey = client.get("/v1/me/surveys", headers=mentee).json["items"][0]
        assert client.post(f"/v1/surveys/{survey['survey_id']}/answers", headers=mentor,
                           json={"recommend_score": 9}).status_code == 403
        assert client.post(f"/v1/surveys/{survey['survey_id']}/answers", headers=mentee,
                           json={"recommend_score": 11}).status_code == 422
        assert client.post(f"/v1/surveys/{survey['survey_id']}/answers", headers=mentee,
                           json={"recommend_score": 9}).status_code == 201
        assert client.post(f"/v1/surveys/{survey['survey_id']}/answers", headers=mentee,
                           json={"recommend_score": 2}).status_code == 409

        events = [decode(r) for r in read_topic(settings, topics.FEEDBACK, expect=9)]
        assert len(events) == 9
        by_type = {}
        for event in events:
            by_type.setdefault(event["event_type"], []).append(event["data"])
        assert sorted((d["employee_id"], d["due_on"]) for d in by_type["ReviewRequested"]) == [
            ("E1", "2026-01-31"), ("E1", "2026-04-01"), ("M1", "2026-01-31"), ("M1", "2026-04-01")]
        # answers leave the service under a pseudonym and without their scores (issue 13)
        respondent = pseudonym(pseudonym_key(settings), "E1")
        assert by_type["ReviewSubmitted"] == [{"review_id": review["review_id"], "pairing_id": "P1", "cohort_id": "C1",
                                               "respondent": respondent}]
        assert sorted(d["employee_id"] for d in by_type["SurveyRequested"]) == ["E1", "M1", "U9"]
        assert [(d["respondent"], "recommend_score" in d) for d in by_type["SurveyAnswered"]] == [(respondent, False)]

        admin = auth(settings, "A1", "admin")
        summary = days_later(settings).get("/v1/cohorts/C1/feedback/summary", headers=admin).json
        assert summary["survey"]["answered"] == 1
        assert summary["reviews"]["requested"] == 4 and summary["reviews"]["submitted"] == 1
        assert summary["survey"]["requested"] == 3 and summary["survey"]["nps"] is None  # one answer: withheld
        assert summary["reviews"]["satisfaction_over_time"][0]["mean_satisfaction"] is None


def test_the_survey_goes_out_once_the_end_date_passes(make_settings):
    settings = make_settings("feedback")
    publish(settings, topics.MATCHING, [cohort_created(ends_on="2026-06-30"), pairing_proposed(), pairing_activated()])
    clock = ManualClock(_at("2026-06-30"))
    with RunningWorker(settings, clock) as worker:
        service = worker.context.commands
        wait_until(lambda: (worker.context.models.pairing("P1") or {}).get("status") == "active",
                   message="pairing projected")
        # the cohort is keyed apart from the pairing (another partition): it may come later
        wait_until(lambda: worker.context.models.cohort("C1") is not None, message="cohort projected")
        assert service.request_due_surveys() == 0
        clock.set(_at("2026-07-01"))
        assert service.request_due_surveys() == 2
        assert service.request_due_surveys() == 0
        events = [decode(r) for r in read_topic(settings, topics.FEEDBACK, expect=2)]
        assert sorted(e["data"]["employee_id"] for e in events if e["event_type"] == "SurveyRequested") == ["E1", "M1"]
