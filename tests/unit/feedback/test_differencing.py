"""Aggregates that cannot be differenced (issue 13): properties over random cohorts and answers.

An admin sees a sequence of published summaries (one per day, each released against the one
before). Whatever the cohort and the order answers arrive in, no pair of them isolates one answer.
"""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.feedback.domain.insight import MIN_RESPONDENTS, changed_people, cohort_summary, release

PEOPLE = [f"E{i:02d}" for i in range(24)]


def _answer(index: int, person: str, rating: int) -> dict:
    return {"feedback_id": f"F{index}", "pairing_id": f"P-{person}", "from_id": person, "rating": rating,
            "meeting_id": None, "good_fit": None}


answers = st.lists(st.tuples(st.sampled_from(PEOPLE), st.integers(1, 5)), min_size=0, max_size=60)
mentors = st.sets(st.sampled_from(PEOPLE), max_size=12)
days = st.lists(st.integers(0, 8), min_size=1, max_size=12)  # answers arriving per day


def _published(history, mentor_ids, per_day):
    """Each day's summary, released against the previous day's snapshot (what the service stores)."""
    snapshots, seen, previous = [], 0, None
    for arriving in per_day:
        seen = min(len(history), seen + arriving)
        items = [_answer(i, person, rating) for i, (person, rating) in enumerate(history[:seen])]
        previous = release(previous, held_meetings=[], feedback=items, reviews=[], surveys=[], mentor_ids=mentor_ids)
        snapshots.append(previous)
    return snapshots


def _figures(summary: dict) -> tuple:
    block = summary["feedback"]
    return (block["mean_rating"], block["distribution"], block["by_role"]["mentors"]["mean_rating"],
            block["by_role"]["mentors"]["distribution"], block["by_role"]["mentees"]["mean_rating"],
            block["by_role"]["mentees"]["distribution"])


@settings(max_examples=150, deadline=None)
@given(history=answers, mentor_ids=mentors, per_day=days)
def test_any_two_published_summaries_differ_by_nobody_or_by_at_least_k_people_in_every_part(
        history, mentor_ids, per_day):
    snapshots = _published(history, mentor_ids, per_day)
    for i, earlier in enumerate(snapshots):
        for later in snapshots[i + 1:]:
            before, after = earlier["units"]["feedback"], later["units"]["feedback"]
            for cell in ("mentors", "mentees"):
                changed = changed_people(before["basis"][cell], after["basis"][cell])
                assert changed == 0 or changed >= MIN_RESPONDENTS
            if before["basis"] == after["basis"]:
                assert _figures(earlier["summary"]) == _figures(later["summary"])


@settings(max_examples=150, deadline=None)
@given(history=answers, mentor_ids=mentors, extra=st.tuples(st.sampled_from(PEOPLE), st.integers(1, 5)))
def test_one_more_answer_changes_no_published_figure(history, mentor_ids, extra):
    items = [_answer(i, person, rating) for i, (person, rating) in enumerate(history)]
    before = release(None, held_meetings=[], feedback=items, reviews=[], surveys=[], mentor_ids=mentor_ids)
    after = release(before, held_meetings=[], feedback=[*items, _answer(len(items), *extra)], reviews=[],
                    surveys=[], mentor_ids=mentor_ids)
    assert _figures(after["summary"]) == _figures(before["summary"])
    assert after["summary"]["withheld"] == before["summary"]["withheld"]


@settings(max_examples=200, deadline=None)
@given(history=answers, mentor_ids=mentors)
def test_every_shown_figure_and_every_figure_derivable_from_two_shown_ones_covers_k_people(history, mentor_ids):
    items = [_answer(i, person, rating) for i, (person, rating) in enumerate(history)]
    summary = cohort_summary(held_meetings=[], feedback=items, reviews=[], surveys=[], mentor_ids=mentor_ids)
    block = summary["feedback"]
    mentor_people = {f["from_id"] for f in items if f["from_id"] in mentor_ids}
    mentee_people = {f["from_id"] for f in items} - mentor_people
    shown = {"overall": block["mean_rating"] is not None,
             "mentors": block["by_role"]["mentors"]["mean_rating"] is not None,
             "mentees": block["by_role"]["mentees"]["mean_rating"] is not None}
    people = {"overall": mentor_people | mentee_people, "mentors": mentor_people, "mentees": mentee_people}
    for name, visible in shown.items():
        if visible:
            assert len(people[name]) >= MIN_RESPONDENTS
    # overall and one part shown: the other part is derivable, so it must cover k people too
    if shown["overall"] and (shown["mentors"] or shown["mentees"]):
        assert len(mentor_people) >= MIN_RESPONDENTS and len(mentee_people) >= MIN_RESPONDENTS


def test_a_single_mentee_is_not_recoverable_as_overall_minus_mentors():
    mentor_ids = {f"M{i}" for i in range(6)}
    items = [_answer(i, f"M{i}", 4) for i in range(6)] + [_answer(99, "E01", 1)]
    summary = cohort_summary(held_meetings=[], feedback=items, reviews=[], surveys=[], mentor_ids=mentor_ids)
    block = summary["feedback"]
    assert block["mean_rating"] is not None  # 7 people
    assert block["by_role"]["mentors"]["mean_rating"] is None  # else overall - mentors = E01's rating
    assert block["by_role"]["mentees"]["mean_rating"] is None
    assert {"feedback.by_role.mentors", "feedback.by_role.mentees"} <= set(summary["withheld"])


def test_figures_move_once_five_more_people_have_answered():
    first = [_answer(i, f"E{i:02d}", 3) for i in range(5)]
    day1 = release(None, held_meetings=[], feedback=first, reviews=[], surveys=[], mentor_ids=set())
    assert day1["summary"]["feedback"]["mean_rating"] == 3.0
    more = first + [_answer(10 + i, f"E{10 + i:02d}", 5) for i in range(4)]
    day2 = release(day1, held_meetings=[], feedback=more, reviews=[], surveys=[], mentor_ids=set())
    assert day2["summary"]["feedback"]["mean_rating"] == 3.0  # four newcomers: nothing moves yet
    more.append(_answer(20, "E20", 5))
    day3 = release(day2, held_meetings=[], feedback=more, reviews=[], surveys=[], mentor_ids=set())
    assert day3["summary"]["feedback"]["mean_rating"] == 4.0 and day3["summary"]["feedback"]["respondents"] == 10
