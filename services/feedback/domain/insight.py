"""Aggregates over feedback, reviews and surveys, with the privacy rules built in.

- Any breakdown computed from fewer than MIN_RESPONDENTS distinct people is withheld (None,
  and named in `withheld`), so no aggregate can point at one person's answers.
- Comments never appear here: the functions read ratings and scores only.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

MIN_RESPONDENTS = 5


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def nps(scores: list[int]) -> int | None:
    """Net promoter score: % promoters (9–10) minus % detractors (0–6), -100..100."""
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return round(100 * (promoters - detractors) / len(scores))


class _Gate:
    def __init__(self):
        self.withheld: list[str] = []

    def allow(self, name: str, respondents: int) -> bool:
        if respondents < MIN_RESPONDENTS:
            self.withheld.append(name)
            return False
        return True


def _rating_block(gate: _Gate, name: str, items: list[dict]) -> dict:
    respondents = len({f["from_id"] for f in items})
    block: dict[str, Any] = {"respondents": respondents, "ratings": len(items), "mean_rating": None, "distribution": None}
    if gate.allow(name, respondents):
        ratings = [f["rating"] for f in items]
        block["mean_rating"] = _mean(ratings)
        block["distribution"] = {str(r): ratings.count(r) for r in range(1, 6)}
    return block


def cohort_summary(*, held_meetings: list[dict], feedback: list[dict], reviews: list[dict],
                   surveys: list[dict], mentor_ids: set[str]) -> dict:
    """Admin view of one cohort. `feedback` items carry from_id, rating, meeting_id, good_fit;
    `reviews` carry employee_id, due_on, submitted (bool), satisfaction, goal_progress;
    `surveys` carry employee_id, answered (bool), recommend_score."""
    gate = _Gate()
    meeting_ids = {m["meeting_id"] for m in held_meetings}
    meeting_feedback = [f for f in feedback if f.get("meeting_id") in meeting_ids]
    expected = 2 * len(meeting_ids)
    ratings = _rating_block(gate, "feedback", feedback)
    ratings.update(
        held_meetings=len(meeting_ids),
        expected_responses=expected,
        responses=len(meeting_feedback),
        response_rate=_rate(len(meeting_feedback), expected),
    )
    by_role = {
        "mentors": _rating_block(gate, "feedback.by_role.mentors", [f for f in feedback if f["from_id"] in mentor_ids]),
        "mentees": _rating_block(gate, "feedback.by_role.mentees", [f for f in feedback if f["from_id"] not in mentor_ids]),
    }
    ratings["by_role"] = by_role
    fit = [f for f in feedback if f.get("good_fit") is not None]
    fit_respondents = len({f["from_id"] for f in fit})
    good_fit: dict[str, Any] = {"respondents": fit_respondents, "not_a_fit_share": None}
    if gate.allow("good_fit", fit_respondents):
        good_fit["not_a_fit_share"] = _rate(sum(1 for f in fit if f["good_fit"] is False), len(fit))

    submitted = [r for r in reviews if r.get("submitted")]
    periods: dict[str, list[dict]] = defaultdict(list)
    for review in submitted:
        periods[str(review["due_on"])[:7]].append(review)
    over_time = []
    for period in sorted(periods):
        items = periods[period]
        respondents = len({r["employee_id"] for r in items})
        entry = {"period": period, "respondents": respondents, "mean_satisfaction": None, "mean_goal_progress": None}
        if gate.allow(f"reviews.over_time.{period}", respondents):
            entry["mean_satisfaction"] = _mean([r["satisfaction"] for r in items])
            entry["mean_goal_progress"] = _mean([r["goal_progress"] for r in items])
        over_time.append(entry)
    review_block = {
        "requested": len(reviews), "submitted": len(submitted),
        "response_rate": _rate(len(submitted), len(reviews)), "satisfaction_over_time": over_time,
    }

    answered = [s for s in surveys if s.get("answered")]
    survey_respondents = len({s["employee_id"] for s in answered})
    survey_block = {
        "requested": len(surveys), "answered": len(answered),
        "response_rate": _rate(len(answered), len(surveys)), "nps": None,
    }
    if gate.allow("survey.nps", survey_respondents):
        survey_block["nps"] = nps([s["recommend_score"] for s in answered])

    return {
        "feedback": ratings,
        "good_fit": good_fit,
        "reviews": review_block,
        "survey": survey_block,
        "min_respondents": MIN_RESPONDENTS,
        "withheld": gate.withheld,
    }


def personal_summary(feedback_about_me: list[dict]) -> dict:
    """A person's own summary of the ratings about them (they may see each one anyway)."""
    ratings = [f["rating"] for f in feedback_about_me]
    return {
        "ratings": len(ratings),
        "respondents": len({f["from_id"] for f in feedback_about_me}),
        "mean_rating": _mean(ratings),
        "distribution": {str(r): ratings.count(r) for r in range(1, 6)},
        "shared_comments": sum(1 for f in feedback_about_me if f.get("comment_shared")),
    }


def pairing_rows(pairings: list[dict], held_meetings: list[dict], feedback: list[dict]) -> list[dict]:
    """Rows of the admin CSV export: one per pairing, no comments, no ratings (their count only)."""
    meetings_by_pairing: dict[str, list[str]] = defaultdict(list)
    for meeting in held_meetings:
        meetings_by_pairing[meeting["pairing_id"]].append(meeting["held_at"])
    ratings_by_pairing: dict[str, list[int]] = defaultdict(list)
    for item in feedback:
        ratings_by_pairing[item["pairing_id"]].append(item["rating"])
    rows = []
    for pairing in sorted(pairings, key=lambda p: p["pairing_id"]):
        held = sorted(meetings_by_pairing.get(pairing["pairing_id"], []))
        ratings = ratings_by_pairing.get(pairing["pairing_id"], [])
        rows.append({
            "pairing_id": pairing["pairing_id"],
            "mentor_id": pairing["mentor_id"],
            "mentee_id": pairing["mentee_id"],
            "status": pairing.get("status"),
            "meetings_held": len(held),
            "last_meeting_at": held[-1] if held else "",
            "ratings": len(ratings),  # a count only: a mean of <= 2 raters reveals them (issue 13)
        })
    return rows
