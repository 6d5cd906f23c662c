"""Issue 15: a progress review's answer holds the progress per goal, kept with the scores in the
commit's private part (never in the event), shown to the person in their reviews, upheld by a
retry and a rebuild. In-memory adapters, no servers."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from shared.errors import Invalid
from tests.unit.feedback.test_application import context, request

GOALS = [{"goal_id": "G1", "progress": 60}, {"goal_id": "G2", "progress": 0}]


def _due_review(ctx) -> str:
    ctx.clock.set(datetime(2026, 2, 1, 12, tzinfo=timezone.utc))
    ctx.commands.request_due_reviews()
    ctx.projector.catch_up()
    return ctx.queries.reviews_of("E1")[0]["review_id"]


def test_progress_per_goal_is_stored_with_the_answer_shown_to_its_author_and_never_in_the_event():
    ctx = context()
    review_id = _due_review(ctx)
    attempt = request()
    done = ctx.commands.submit_review(review_id, "E1", 4, 5, attempt, goals=GOALS)
    again = ctx.commands.submit_review(review_id, "E1", 4, 5, attempt, goals=GOALS)  # a lost answer, retried
    assert again.position == 0 and done.id == again.id
    submitted = ctx.store.load(review_id).events[-1]
    assert "goals" not in submitted.data and "60" not in json.dumps(submitted.data)
    ctx.projector.catch_up()
    [review] = ctx.queries.reviews_of("E1")
    assert review["submitted"] and review["goals"] == GOALS

    rebuilt = context(store=ctx.store)
    rebuilt.projector.catch_up()
    assert rebuilt.queries.reviews_of("E1")[0]["goals"] == GOALS


def test_an_answer_without_goals_works_as_before_and_bad_progress_is_refused_naming_goals():
    ctx = context()
    review_id = _due_review(ctx)
    for bad in ([{"goal_id": "G1", "progress": 101}], [{"goal_id": "G1", "progress": 5}, {"goal_id": "G1", "progress": 6}]):
        with pytest.raises(Invalid) as refused:
            ctx.commands.submit_review(review_id, "E1", 4, 5, request(), goals=bad)
        assert refused.value.field == "goals"
    ctx.commands.submit_review(review_id, "E1", 3, 4, request())
    ctx.projector.catch_up()
    [review] = ctx.queries.reviews_of("E1")
    assert review["submitted"] and review.get("goals") is None and review["goal_progress"] == 3
