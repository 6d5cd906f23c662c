"""The cohort summary changes only at fixed points: one published snapshot per cohort and day."""
from __future__ import annotations

import itertools

from tests.unit.feedback.test_application import context

ORDERS = itertools.count(1)


def _rated(ctx, person: str, rating: int, given_at: str) -> None:
    """A feedback document and its row in the cohort's list, as the store projector writes them."""
    doc = {"_id": f"F-{person}-{given_at}", "feedback_id": f"F-{person}-{given_at}", "pairing_id": f"P-{person}",
           "cohort_id": "C1", "meeting_id": None, "from_id": person, "about_id": "M1", "rating": rating,
           "good_fit": None, "comment_shared": False, "given_at": given_at}
    ctx.models.lists.feedback.index(None, doc, next(ORDERS))
    ctx.database["fb_feedback"].insert_one(doc)


def test_a_repeat_read_the_same_day_gives_the_same_figures_even_after_new_answers():
    ctx = context()  # today is 2026-02-01
    for i in range(5):
        _rated(ctx, f"E{i}", 3, "2026-01-20T10:00:00Z")
    first = ctx.queries.cohort_summary("C1")
    assert first["as_of"] == "2026-02-01T00:00:00Z" and first["feedback"]["mean_rating"] == 3.0
    _rated(ctx, "E9", 1, "2026-01-31T23:59:00Z")  # projected late: after today's snapshot was taken
    _rated(ctx, "E8", 1, "2026-02-01T08:00:00Z")  # today: not before the day began
    assert ctx.queries.cohort_summary("C1") == first


def test_the_next_days_summary_moves_only_once_enough_new_people_answered():
    ctx = context()
    for i in range(5):
        _rated(ctx, f"E{i}", 3, "2026-01-20T10:00:00Z")
    assert ctx.queries.cohort_summary("C1")["feedback"]["mean_rating"] == 3.0
    _rated(ctx, "E9", 1, "2026-02-01T08:00:00Z")
    ctx.clock.advance(days=1)
    next_day = ctx.queries.cohort_summary("C1")
    assert next_day["as_of"] == "2026-02-02T00:00:00Z"
    assert next_day["feedback"]["mean_rating"] == 3.0 and next_day["feedback"]["respondents"] == 5  # E9 hidden
    for i in range(10, 14):
        _rated(ctx, f"E{i}", 1, "2026-02-02T08:00:00Z")
    ctx.clock.advance(days=1)
    moved = ctx.queries.cohort_summary("C1")
    assert moved["feedback"]["respondents"] == 10 and moved["feedback"]["mean_rating"] == 2.0
