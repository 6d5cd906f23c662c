"""Cohort insight: aggregates, and withholding anything over fewer than 5 respondents."""
from __future__ import annotations

from services.feedback.domain.insight import cohort_summary, nps, pairing_rows, personal_summary


def _feedback(n_people: int, rating: int = 4, **extra) -> list[dict]:
    return [{"feedback_id": f"F{i}", "pairing_id": f"P{i}", "from_id": f"E{i}", "about_id": f"M{i}",
             "rating": rating, "meeting_id": f"MT{i}", "comment_shared": False,
             "comment": None, **extra} for i in range(n_people)]


def _meetings(n: int) -> list[dict]:
    return [{"meeting_id": f"MT{i}", "pairing_id": f"P{i}", "held_at": f"2026-03-0{1 + i % 9}T10:00:00.000Z"}
            for i in range(n)]


def test_ratings_from_fewer_than_five_people_are_withheld():
    summary = cohort_summary(held_meetings=_meetings(4), feedback=_feedback(4), reviews=[], surveys=[], mentor_ids=set())
    block = summary["feedback"]
    assert block["mean_rating"] is None and block["distribution"] is None
    assert "feedback" in summary["withheld"]
    assert block["responses"] == 4 and block["expected_responses"] == 8 and block["response_rate"] == 0.5


def test_ratings_from_five_people_are_shown():
    feedback = _feedback(4, rating=5) + _feedback(1, rating=1)
    feedback[-1]["from_id"] = "E99"
    summary = cohort_summary(held_meetings=_meetings(5), feedback=feedback, reviews=[], surveys=[], mentor_ids=set())
    block = summary["feedback"]
    assert block["mean_rating"] == 4.2
    assert block["distribution"] == {"1": 1, "2": 0, "3": 0, "4": 0, "5": 4}
    assert "feedback" not in summary["withheld"]
    # the mentor breakdown has nobody in it here, so it is withheld on its own
    assert block["by_role"]["mentors"]["mean_rating"] is None and "feedback.by_role.mentors" in summary["withheld"]


def test_many_ratings_from_one_person_still_count_as_one_respondent():
    feedback = [{**item, "from_id": "E1"} for item in _feedback(10)]
    summary = cohort_summary(held_meetings=_meetings(10), feedback=feedback, reviews=[], surveys=[], mentor_ids=set())
    assert summary["feedback"]["respondents"] == 1 and summary["feedback"]["mean_rating"] is None


def test_comments_never_appear_in_the_summary():
    feedback = _feedback(6, comment="secret words", comment_shared=True)
    summary = cohort_summary(held_meetings=_meetings(6), feedback=feedback, reviews=[], surveys=[], mentor_ids=set())
    assert "secret words" not in str(summary)


def test_nps():
    assert nps([10, 9, 8, 7, 0]) == 20
    assert nps([10, 9, 8, 3, 0]) == 0
    assert nps([10, 10, 9, 9, 6]) == 60
    assert nps([]) is None


def test_survey_nps_needs_five_respondents_and_reviews_are_grouped_by_month():
    surveys = [{"employee_id": f"E{i}", "answered": True, "recommend_score": 10} for i in range(4)]
    surveys.append({"employee_id": "E9", "answered": False})
    summary = cohort_summary(held_meetings=[], feedback=[], reviews=[], surveys=surveys, mentor_ids=set())
    assert summary["survey"]["nps"] is None and summary["survey"]["response_rate"] == 0.8
    surveys[-1] = {"employee_id": "E9", "answered": True, "recommend_score": 3}
    summary = cohort_summary(held_meetings=[], feedback=[], reviews=[], surveys=surveys, mentor_ids=set())
    assert summary["survey"]["nps"] == 60

    reviews = [{"employee_id": f"E{i}", "due_on": "2026-01-31", "submitted": True, "satisfaction": 4,
                "goal_progress": 3} for i in range(5)]
    reviews += [{"employee_id": f"E{i}", "due_on": "2026-04-01", "submitted": True, "satisfaction": 5,
                 "goal_progress": 5} for i in range(2)]
    reviews += [{"employee_id": "E7", "due_on": "2026-04-01", "submitted": False}]
    over_time = cohort_summary(held_meetings=[], feedback=[], reviews=reviews, surveys=[],
                               mentor_ids=set())["reviews"]["satisfaction_over_time"]
    assert over_time == [
        {"period": "2026-01", "respondents": 5, "mean_satisfaction": 4.0, "mean_goal_progress": 3.0},
        {"period": "2026-04", "respondents": 2, "mean_satisfaction": None, "mean_goal_progress": None},
    ]


def test_personal_summary_and_export_rows():
    about_me = _feedback(2, rating=3) + _feedback(1, rating=5)
    mine = personal_summary(about_me)
    assert mine["ratings"] == 3 and mine["mean_rating"] == 3.67 and mine["distribution"]["3"] == 2
    pairings = [{"pairing_id": "P0", "mentor_id": "M0", "mentee_id": "E0", "status": "active"},
                {"pairing_id": "P1", "mentor_id": "M1", "mentee_id": "E1", "status": "ended"}]
    meetings = [{"meeting_id": "a", "pairing_id": "P0", "held_at": "2026-03-01T10:00:00.000Z"},
                {"meeting_id": "b", "pairing_id": "P0", "held_at": "2026-03-15T10:00:00.000Z"}]
    rows = pairing_rows(pairings, meetings, [{"pairing_id": "P0", "rating": 4}, {"pairing_id": "P0", "rating": 5}])
    assert rows[0] == {"pairing_id": "P0", "mentor_id": "M0", "mentee_id": "E0", "status": "active", "meetings_held": 2,
                       "last_meeting_at": "2026-03-15T10:00:00.000Z", "ratings": 2}  # no per-pairing mean
    assert rows[1]["meetings_held"] == 0 and rows[1]["ratings"] == 0 and rows[1]["status"] == "ended"
