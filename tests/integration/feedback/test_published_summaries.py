"""Published cohort summaries on the real servers: daily snapshots that one more answer cannot move,
complementary suppression, and one rating per person per pairing per month."""
from __future__ import annotations

import pytest

from shared import topics
from services.feedback.api import create_app
from tests.helpers import wait_until
from tests.integration.feedback.support import (
    RunningWorker, auth, cohort_created, days_later, meeting_held, pairing_activated, pairing_proposed, publish,
)

pytestmark = pytest.mark.integration
PAIRS = [(f"P{i}", f"M{i}", f"E{i}", f"MT{i}") for i in range(1, 7)]


def _seed(settings):
    publish(settings, topics.MATCHING, [cohort_created()] + [
        event for pid, mentor, mentee, _ in PAIRS
        for event in (pairing_proposed(pid, "C1", mentor, mentee), pairing_activated(pid, "C1", mentor, mentee))])
    publish(settings, topics.SESSIONS, [meeting_held(mt, pid, "C1", mentor, mentee) for pid, mentor, mentee, mt in PAIRS])


def test_a_summary_is_a_daily_snapshot_that_one_more_answer_cannot_move(make_settings):
    settings = make_settings("feedback")
    _seed(settings)
    with RunningWorker(settings) as worker:
        wait_until(lambda: all(worker.context.models.meeting(mt) for *_, mt in PAIRS)
                   and all((worker.context.models.pairing(pid) or {}).get("status") == "active" for pid, *_ in PAIRS),
                   message="pairings and meetings projected")
        client = create_app(settings).test_client()
        admin = auth(settings, "A1", "admin")
        for pid, _, mentee, mt in PAIRS[:5]:
            given = client.post(f"/v1/pairings/{pid}/feedback", headers=auth(settings, mentee),
                                json={"rating": 4, "meeting_id": mt})
            assert given.status_code == 201, given.json
        tomorrow = days_later(settings, 1)
        first = tomorrow.get("/v1/cohorts/C1/feedback/summary", headers=admin).json
        assert first["feedback"]["mean_rating"] == 4.0 and first["feedback"]["respondents"] == 5
        # nobody of the mentors answered: both parts withheld, or overall - mentees = the mentors' figure
        assert first["feedback"]["by_role"]["mentees"]["mean_rating"] is None
        assert {"feedback.by_role.mentors", "feedback.by_role.mentees"} <= set(first["withheld"])

        pid, mentor, mentee, mt = PAIRS[5]
        assert client.post(f"/v1/pairings/{pid}/feedback", headers=auth(settings, mentee),
                           json={"rating": 1, "meeting_id": mt}).status_code == 201
        assert tomorrow.get("/v1/cohorts/C1/feedback/summary", headers=admin).json == first  # the same day
        day_after = days_later(settings, 2).get("/v1/cohorts/C1/feedback/summary", headers=admin).json
        assert day_after["as_of"] > first["as_of"]
        assert day_after["feedback"]["mean_rating"] == 4.0 and day_after["feedback"]["respondents"] == 5
        assert day_after["feedback"]["responses"] == 6  # that someone answered is shown; not what

        # one rating per person per pairing per month: a second is refused, the first stays
        assert client.post(f"/v1/pairings/{pid}/feedback", headers=auth(settings, mentor),
                           json={"rating": 5}).status_code == 201
        again = client.post(f"/v1/pairings/{pid}/feedback", headers=auth(settings, mentor), json={"rating": 1})
        assert again.status_code == 409 and again.json["code"] == "already_rated"
