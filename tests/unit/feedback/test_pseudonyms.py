"""Review and survey answers leave the service under a pseudonym and without their scores."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from shared.config import Settings
from shared.events.catalog import default_registry
from shared.events.catalog.feedback import REVIEW_SUBMITTED, SURVEY_ANSWERED
from shared.events.envelope import new_event
from shared.clock import ManualClock
from shared.memory import InMemoryEventStore
from services.feedback.bootstrap import FeedbackContext
from services.feedback.domain.pseudonym import pseudonym
from tests.unit.feedback.test_application import request
from tests.unit.feedback.programme import enrolled
from tests.unit.sessions.fakedb import FakeDatabase


def test_a_pseudonym_is_stable_per_key_and_differs_between_keys_and_people():
    assert pseudonym("k1", "E1") == pseudonym("k1", "E1")
    assert len({pseudonym("k1", "E1"), pseudonym("k2", "E1"), pseudonym("k1", "E2")}) == 3
    assert "E1" not in pseudonym("k1", "E1")


def _context() -> FeedbackContext:
    ctx = FeedbackContext(settings=Settings(service_name="feedback", feedback_pseudonym_secret="s3cret"),
                          database=FakeDatabase(), store=InMemoryEventStore(),
                          clock=ManualClock(datetime(2026, 2, 1, 9, 0, tzinfo=timezone.utc)))
    ctx.database["fb_cohorts"].insert_one({"_id": "C1", "cohort_id": "C1", "status": "closed", "rules": {},
                                           "starts_on": "2026-01-01", "ends_on": "2026-01-31", "version": 1})
    enrolled(ctx.database, "C1", "E1", "mentee")
    return ctx


def test_survey_answers_are_published_under_a_pseudonym_and_kept_in_the_service():
    ctx = _context()
    assert ctx.commands.request_surveys("C1", request()) == 1
    ctx.projector.catch_up()
    survey = ctx.queries.surveys_of("E1")[0]
    done = ctx.commands.answer_survey(survey["survey_id"], "E1", 9, request())
    again = ctx.commands.answer_survey(survey["survey_id"], "E1", 9, request())  # a retry: the same answer
    assert again.id == done.id and again.position == 0
    published = [e for c in ctx.store.read_all() for e in c.events if e.event_type == SURVEY_ANSWERED]
    assert [e.schema_version for e in published] == [2]
    assert published[0].data == {"survey_id": survey["survey_id"], "cohort_id": "C1",
                                 "respondent": pseudonym("s3cret", "E1")}
    assert "E1" not in json.dumps(published[0].data)
    ctx.projector.catch_up()
    stored = ctx.queries.surveys_of("E1")[0]  # the service itself still knows whose and what
    assert stored["answered"] and stored["recommend_score"] == 9


def test_v1_answers_upcast_without_the_employee_id_and_keep_their_scores():
    registry = default_registry()
    for event_type, data in ((REVIEW_SUBMITTED, {"review_id": "R1", "pairing_id": "P1", "cohort_id": "C1",
                                                 "employee_id": "E1", "goal_progress": 3, "satisfaction": 4}),
                             (SURVEY_ANSWERED, {"survey_id": "S1", "cohort_id": "C1", "employee_id": "E1",
                                                "recommend_score": 7})):
        old = new_event(event_type=event_type, schema_version=1, producer="feedback", aggregate_type="x",
                        aggregate_id="A1", aggregate_version=2, correlation_id=str(uuid.uuid4()), causation_id=None,
                        data=data)
        current = registry.to_current(old)
        assert current.schema_version == 2 and "employee_id" not in current.data
        assert current.data["respondent"] is None
        assert {k: v for k, v in current.data.items() if k != "respondent"} == \
            {k: v for k, v in data.items() if k != "employee_id"}


def test_the_pseudonym_key_is_never_empty_nor_the_token_secret_itself():
    import pytest as _pytest

    from services.feedback.bootstrap import pseudonym_key

    with _pytest.raises(RuntimeError, match="FEEDBACK_PSEUDONYM_SECRET"):
        pseudonym_key(Settings(service_name="feedback"))
    derived = pseudonym_key(Settings(service_name="feedback", jwt_secret="a-development-secret-of-32-bytes!!"))
    assert derived and derived != "a-development-secret-of-32-bytes!!"
    assert pseudonym_key(Settings(service_name="feedback", feedback_pseudonym_secret="own")) == "own"
