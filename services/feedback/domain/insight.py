"""Aggregates over feedback, reviews and surveys, with the privacy rules built in.

- Any breakdown computed from fewer than MIN_RESPONDENTS distinct people is withheld (None,
  and named in `withheld`), so no aggregate can point at one person's answers; so is any figure
  that could be derived from shown ones (complementary suppression: overall − mentors = mentees).
- Figures change only between snapshots (application/queries.py: one per cohort and day), and a
  unit of figures is re-released only when each of its parts changed by 0 or >= MIN_RESPONDENTS
  people (`release`), so comparing any two published summaries never isolates one answer.
- Counts of who answered (responses, requested, submitted, rates) are shown: they say who
  took part, never what anyone answered.
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


def _respondents(items: list[dict], person: str) -> int:
    return len({item[person] for item in items})


def _rating_block(gate: _Gate, name: str, items: list[dict], *, show: bool = True) -> dict:
    respondents = _respondents(items, "from_id")
    block: dict[str, Any] = {"respondents": respondents, "ratings": len(items), "mean_rating": None, "distribution": None}
    if show and gate.allow(name, respondents):
        ratings = [f["rating"] for f in items]
        block["mean_rating"] = _mean(ratings)
        block["distribution"] = {str(r): ratings.count(r) for r in range(1, 6)}
    elif not show:
        gate.withheld.append(name)
    return block


# -- units: figures that are released together ----------------------------------------------------
# A unit is a group of figures that can be combined arithmetically (the overall rating and its
# mentors' and mentees' parts; one review period; the survey). Its *cells* partition the people
# behind it (mentors | mentees): every figure of the unit is a sum over some cells. Its *basis* is
# which answers (item id -> person) each cell held when the unit's figures were last released.
#
# Between two releases a cell's figure changes by the answers of the people whose answers came or
# went. If that is one person, comparing the two releases shows their answer. So a unit is
# re-released only when every cell changed by 0 or at least MIN_RESPONDENTS people; otherwise its
# last released figures stay (and the new answers wait until enough others have joined them).


def _basis(cells: dict[str, list[dict]], key: str, person: str) -> dict[str, dict[str, str]]:
    return {cell: {str(item[key]): str(item[person]) for item in items} for cell, items in cells.items()}


def changed_people(old: dict[str, str], new: dict[str, str]) -> int:
    """People whose answers differ between two bases of a cell (added or gone)."""
    return len({old[i] for i in old.keys() - new.keys()} | {new[i] for i in new.keys() - old.keys()})


def may_release(previous: dict | None, basis: dict[str, dict[str, str]]) -> bool:
    if previous is None:
        return True
    for cell in set(previous) | set(basis):
        changed = changed_people(previous.get(cell, {}), basis.get(cell, {}))
        if 0 < changed < MIN_RESPONDENTS:
            return False
    return True


class _Units:
    """The figures of each unit: this snapshot's, or the last released ones (see `may_release`)."""

    def __init__(self, previous: dict | None):
        self.previous = (previous or {}).get("units", {})
        self.released: dict[str, dict] = {}

    def figures(self, name: str, basis: dict[str, dict[str, str]], compute) -> Any:
        before = self.previous.get(name)
        if before is not None and not may_release(before["basis"], basis):
            self.released[name] = before
        else:
            self.released[name] = {"basis": basis, "figures": compute()}
        return self.released[name]["figures"]


def _feedback_figures(feedback: list[dict], mentor_ids: set[str]) -> dict:
    """The overall rating block and its two parts. Complementary suppression: overall = mentors +
    mentees, so if either part is withheld the other is too (else it is overall minus the other)."""
    gate = _Gate()
    mentors = [f for f in feedback if f["from_id"] in mentor_ids]
    mentees = [f for f in feedback if f["from_id"] not in mentor_ids]
    both = all(_respondents(part, "from_id") >= MIN_RESPONDENTS for part in (mentors, mentees))
    overall = _rating_block(gate, "feedback", feedback)
    by_role = {"mentors": _rating_block(gate, "feedback.by_role.mentors", mentors, show=both),
               "mentees": _rating_block(gate, "feedback.by_role.mentees", mentees, show=both)}
    return {"overall": overall, "by_role": by_role, "withheld": gate.withheld}


def _good_fit_figures(fit: list[dict]) -> dict:
    gate = _Gate()
    block: dict[str, Any] = {"respondents": _respondents(fit, "from_id"), "not_a_fit_share": None}
    if gate.allow("good_fit", block["respondents"]):
        block["not_a_fit_share"] = _rate(sum(1 for f in fit if f["good_fit"] is False), len(fit))
    return {"block": block, "withheld": gate.withheld}


def _period_figures(period: str, items: list[dict]) -> dict:
    gate = _Gate()
    respondents = _respondents(items, "respondent")
    entry = {"period": period, "respondents": respondents, "mean_satisfaction": None, "mean_goal_progress": None}
    if gate.allow(f"reviews.over_time.{period}", respondents):
        entry["mean_satisfaction"] = _mean([r["satisfaction"] for r in items])
        entry["mean_goal_progress"] = _mean([r["goal_progress"] for r in items])
    return {"entry": entry, "withheld": gate.withheld}


def _nps_figures(answered: list[dict]) -> dict:
    gate = _Gate()
    value = None
    if gate.allow("survey.nps", _respondents(answered, "respondent")):
        value = nps([s["recommend_score"] for s in answered])
    return {"nps": value, "withheld": gate.withheld}


def _with_respondent(items: list[dict]) -> list[dict]:
    """Who answered a review or survey: the view's employee id (from the request), else the
    pseudonym — one name per person either way, so v1 and v2 answers count the same person once."""
    return [{**item, "respondent": item.get("employee_id") or item.get("respondent")} for item in items]


def _item_key(item: dict, *names: str) -> str:
    return next(str(item[name]) for name in names if item.get(name) is not None)


def release(previous: dict | None, *, held_meetings: list[dict], feedback: list[dict], reviews: list[dict],
            surveys: list[dict], mentor_ids: set[str]) -> dict:
    """A snapshot `{"summary": ..., "units": ...}` of one cohort, released against the previous
    snapshot (None: the first). `feedback` items carry feedback_id, from_id, rating, meeting_id,
    good_fit; `reviews` review_id, respondent (or employee_id), due_on, submitted, satisfaction,
    goal_progress; `surveys` survey_id, respondent (or employee_id), answered, recommend_score."""
    units = _Units(previous)
    for index, item in enumerate(feedback):
        item.setdefault("feedback_id", f"feedback-{index}")
    meeting_ids = {m["meeting_id"] for m in held_meetings}
    meeting_feedback = [f for f in feedback if f.get("meeting_id") in meeting_ids]
    expected = 2 * len(meeting_ids)
    cells = {"mentors": [f for f in feedback if f["from_id"] in mentor_ids],
             "mentees": [f for f in feedback if f["from_id"] not in mentor_ids]}
    rated = units.figures("feedback", _basis(cells, "feedback_id", "from_id"),
                          lambda: _feedback_figures(feedback, mentor_ids))
    withheld = list(rated["withheld"])
    ratings = {**rated["overall"], "held_meetings": len(meeting_ids), "expected_responses": expected,
               "responses": len(meeting_feedback), "response_rate": _rate(len(meeting_feedback), expected),
               "by_role": rated["by_role"]}

    fit = [f for f in feedback if f.get("good_fit") is not None]
    fitted = units.figures("good_fit", _basis({"all": fit}, "feedback_id", "from_id"), lambda: _good_fit_figures(fit))
    withheld += fitted["withheld"]

    reviews = _with_respondent(reviews)
    submitted = [r for r in reviews if r.get("submitted")]
    periods: dict[str, list[dict]] = defaultdict(list)
    for review in submitted:
        periods[str(review["due_on"])[:7]].append(review)
    over_time = []
    for period in sorted(periods):
        items = periods[period]
        basis = _basis({"all": [{**r, "key": _item_key(r, "review_id", "respondent")} for r in items]},
                       "key", "respondent")
        figures = units.figures(f"reviews.{period}", basis, lambda items=items, period=period:
                                _period_figures(period, items))
        over_time.append(figures["entry"])
        withheld += figures["withheld"]
    review_block = {"requested": len(reviews), "submitted": len(submitted),
                    "response_rate": _rate(len(submitted), len(reviews)), "satisfaction_over_time": over_time}

    surveys = _with_respondent(surveys)
    answered = [s for s in surveys if s.get("answered")]
    basis = _basis({"all": [{**s, "key": _item_key(s, "survey_id", "respondent")} for s in answered]},
                   "key", "respondent")
    scored = units.figures("survey", basis, lambda: _nps_figures(answered))
    withheld += scored["withheld"]
    survey_block = {"requested": len(surveys), "answered": len(answered),
                    "response_rate": _rate(len(answered), len(surveys)), "nps": scored["nps"]}

    summary = {"feedback": ratings, "good_fit": fitted["block"], "reviews": review_block, "survey": survey_block,
               "min_respondents": MIN_RESPONDENTS, "withheld": withheld}
    return {"summary": summary, "units": units.released}


def cohort_summary(*, held_meetings: list[dict], feedback: list[dict], reviews: list[dict],
                   surveys: list[dict], mentor_ids: set[str]) -> dict:
    """A cohort's first release (no earlier snapshot): every figure over at least 5 people."""
    return release(None, held_meetings=held_meetings, feedback=feedback, reviews=reviews, surveys=surveys,
                   mentor_ids=mentor_ids)["summary"]


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
