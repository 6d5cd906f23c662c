"""Feedback rules: who may rate what and when, the review rhythm, and what events carry.

Pure functions over plain dicts (views of meetings and pairings that the service projected
from matching and sessions events) and dataclasses; no I/O. A refusal raises one of
shared.errors (NotFound, Forbidden, Conflict, Invalid), mapped to problem+json once.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from shared.aggregate import NewEvent
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.events.catalog.feedback import (
    FEEDBACK_GIVEN, KUDOS_SENT, REVIEW_SUBMITTED, SURVEY_ANSWERED,
)

DEFAULT_FIRST_REVIEW_DAYS = 30
DEFAULT_REVIEW_EVERY_DAYS = 60

_IDS = uuid.UUID("6f1f0c56-6c7e-4b8e-9f8e-0d1c8f3a9b21")


def derived_id(*parts: str) -> str:
    """A stable id from its parts, so "once per X" is one event stream per X."""
    return str(uuid.uuid5(_IDS, "|".join(parts)))


def meeting_feedback_id(meeting_id: str, from_id: str) -> str:
    return derived_id("feedback", meeting_id, from_id)


def rating_period(moment: date) -> str:
    """The period in which a person may rate a pairing once (outside any meeting): a calendar month."""
    return moment.strftime("%Y-%m")


def pairing_feedback_id(pairing_id: str, from_id: str, period: str) -> str:
    """One stream per person, pairing and period: a second rating in the period is refused (409)
    rather than replacing the first, so every published figure rests on answers that never change
    (a replaced answer would be a change of one person between two summaries)."""
    return derived_id("feedback", pairing_id, from_id, period)


def review_id_for(pairing_id: str, employee_id: str, due_on: date) -> str:
    return derived_id("review", pairing_id, employee_id, due_on.isoformat())


def survey_id_for(cohort_id: str, employee_id: str) -> str:
    return derived_id("survey", cohort_id, employee_id)


# -- feedback ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GiveFeedback:
    pairing_id: str
    from_id: str
    rating: int
    meeting_id: str | None = None
    comment: str | None = None
    share_comment: bool = False
    good_fit: bool | None = None


def _parties(view: dict) -> tuple[str, str]:
    return view["mentor_id"], view["mentee_id"]


def decide_feedback(
    command: GiveFeedback,
    *,
    feedback_id: str,
    pairing: dict | None,
    meeting: dict | None,
    held_meetings: int,
    already_given: bool,
) -> NewEvent:
    """FeedbackGiven, or a refusal (shared.errors).

    `pairing` and `meeting` are the projected views (None when unknown); `held_meetings` counts
    the pairing's held meetings; `already_given` says whether this author already rated this
    meeting.
    """
    if not 1 <= command.rating <= 5:
        raise Invalid("rating_out_of_range", "rating must be 1 to 5", field="rating")
    if command.meeting_id is not None:
        if meeting is None or meeting.get("pairing_id") != command.pairing_id:
            raise NotFound("meeting_not_found", f"no meeting {command.meeting_id} is known for this pairing",
                           field="meeting_id")
        subject = meeting
        if command.from_id not in _parties(meeting):
            raise Forbidden("not_a_party", "only the meeting's mentor and mentee may rate it")
        if not meeting.get("held_at"):
            raise Conflict("meeting_not_held", "the meeting has not been held yet")
        if already_given:
            raise Conflict("already_rated", "you already rated this meeting")
    else:
        if pairing is None:
            raise NotFound("pairing_not_found", f"no pairing {command.pairing_id} is known")
        subject = pairing
        if command.from_id not in _parties(pairing):
            raise Forbidden("not_a_party", "only the pairing's mentor and mentee may give feedback on it")
        if held_meetings < 1:
            raise Conflict("no_meeting_held_yet", "feedback opens after the pair's first held meeting")
        if already_given:
            raise Conflict("already_rated", "you already rated this pairing this month")
    status = (pairing or {}).get("status")
    if status in ("proposed", "declined", "expired"):
        raise Conflict("pairing_not_open", f"the pairing is {status}")
    if command.good_fit is not None and status in ("ended", "completed"):  # nothing left to end
        raise Conflict("pairing_ended", f"the pairing has already {status}", field="good_fit")
    mentor_id, mentee_id = _parties(subject)
    about_id = mentee_id if command.from_id == mentor_id else mentor_id
    comment = (command.comment or "").strip() or None
    shared = bool(command.share_comment and comment)
    data = {
        "feedback_id": feedback_id,
        "pairing_id": command.pairing_id,
        "cohort_id": subject["cohort_id"],
        "meeting_id": command.meeting_id,
        "from_id": command.from_id,
        "about_id": about_id,
        "rating": command.rating,
        "good_fit": command.good_fit,
        "comment_shared": shared,
    }
    if shared:
        data["comment"] = comment
    return NewEvent(FEEDBACK_GIVEN, data)


def visible_to_subject(feedback: dict) -> dict:
    """What the person a feedback is about may see: never an unshared comment."""
    return {
        "feedback_id": feedback["feedback_id"],
        "pairing_id": feedback["pairing_id"],
        "cohort_id": feedback["cohort_id"],
        "meeting_id": feedback.get("meeting_id"),
        "from_id": feedback["from_id"],
        "rating": feedback["rating"],
        "good_fit": feedback.get("good_fit"),
        "comment": feedback.get("comment") if feedback.get("comment_shared") else None,
        "given_at": feedback.get("given_at"),
    }


# -- progress reviews -------------------------------------------------------------------------


def review_due_dates(activated_on: date, today: date, *, first_after_days: int = DEFAULT_FIRST_REVIEW_DAYS,
                     every_days: int = DEFAULT_REVIEW_EVERY_DAYS, ends_on: date | None = None) -> list[date]:
    """Every review date on the rhythm that has come by `today` (and not after the cohort's end)."""
    dates = []
    due = activated_on + timedelta(days=first_after_days)
    while due <= today and (ends_on is None or due <= ends_on):
        dates.append(due)
        due += timedelta(days=max(1, every_days))
    return dates


def latest_review_due(activated_on: date, today: date, **rhythm) -> date | None:
    dates = review_due_dates(activated_on, today, **rhythm)
    return dates[-1] if dates else None


MAX_REVIEW_GOALS = 50


def review_goals(goals: list[dict] | None) -> list[dict] | None:
    """Progress per goal in a review answer (issue 15: "reviews show the goals and ask progress per
    goal"): `[{goal_id, progress 0-100}]`, each goal once, stored with the scores in the commit's
    private part (not on Kafka: a review id points at its respondent). None: not given."""
    if goals is None:
        return None
    if len(goals) > MAX_REVIEW_GOALS:
        raise Invalid("too_many_goals", f"at most {MAX_REVIEW_GOALS} goals", field="goals")
    seen: set[str] = set()
    out = []
    for goal in goals:
        goal_id, progress = goal.get("goal_id"), goal.get("progress")
        if not goal_id or goal_id in seen:
            raise Invalid("goal_repeated", "each goal once, by its goal_id", field="goals")
        if not isinstance(progress, int) or isinstance(progress, bool) or not 0 <= progress <= 100:
            raise Invalid("progress_out_of_range", "progress must be 0 to 100", field="goals")
        seen.add(goal_id)
        out.append({"goal_id": goal_id, "progress": progress})
    return out


def decide_review_answer(requested: dict | None, submitted: bool, employee_id: str,
                         goal_progress: int, satisfaction: int, *, respondent: str) -> NewEvent:
    """ReviewSubmitted naming the respondent by pseudonym; the scores go in the commit's private
    part (the caller's `private=`), never in the event."""
    if requested is None:
        raise NotFound("review_not_found", "no such review")
    if requested["employee_id"] != employee_id:
        raise Forbidden("not_your_review", "this review was asked of someone else")
    if submitted:
        raise Conflict("already_answered", "you already answered this review")
    for name, value in (("goal_progress", goal_progress), ("satisfaction", satisfaction)):
        if not 1 <= value <= 5:
            raise Invalid("answer_out_of_range", f"{name} must be 1 to 5", field=name)
    return NewEvent(REVIEW_SUBMITTED, {
        "review_id": requested["review_id"], "pairing_id": requested["pairing_id"],
        "cohort_id": requested["cohort_id"], "respondent": respondent,
    })


# -- end-of-cohort survey ---------------------------------------------------------------------


def survey_due(cohort: dict, today: date) -> bool:
    """The survey goes out when the cohort closes or the day after its `ends_on`."""
    if cohort.get("status") == "closed":
        return True
    ends_on = cohort.get("ends_on")
    return bool(ends_on) and today > date.fromisoformat(ends_on)


def decide_survey_answer(requested: dict | None, answered: bool, employee_id: str, recommend_score: int, *,
                         respondent: str) -> NewEvent:
    """SurveyAnswered naming the respondent by pseudonym; the score goes in the commit's private part."""
    if requested is None:
        raise NotFound("survey_not_found", "no such survey")
    if requested["employee_id"] != employee_id:
        raise Forbidden("not_your_survey", "this survey was sent to someone else")
    if answered:
        raise Conflict("already_answered", "you already answered this survey")
    if not 0 <= recommend_score <= 10:
        raise Invalid("score_out_of_range", "recommend_score must be 0 to 10", field="recommend_score")
    return NewEvent(SURVEY_ANSWERED, {
        "survey_id": requested["survey_id"], "cohort_id": requested["cohort_id"], "respondent": respondent,
    })


# -- kudos ------------------------------------------------------------------------------------


def decide_kudos(pairing: dict | None, from_id: str, kudos_id: str, note: str, *,
                 share_with_manager: bool = False, mentor_manager_id: str | None = None) -> NewEvent:
    """KudosSent to the other party. With `share_with_manager` (issue 15) the mentee also shares it
    with the mentor's manager (`mentor_manager_id`, from the HRIS directory): recognition the mentor
    can use. Only the mentee thanking their mentor may share (a mentor's thanks to a mentee is not a
    performance signal for the mentee's line); a mentor without a known manager is a 422 `no_manager`
    rather than a silently unshared thank-you: the mentee asked for the manager to see it, so they
    must learn that nobody will (and may still send it unshared)."""
    if pairing is None:
        raise NotFound("pairing_not_found", "no such pairing")
    if from_id not in _parties(pairing):
        raise Forbidden("not_a_party", "only the pairing's mentor and mentee may send kudos in it")
    # completed (the cohort closed, issue 15): the moment the gratitude prompt asks the mentee to thank
    if pairing.get("status") not in ("active", "ended", "completed"):
        raise Conflict("pairing_not_open", f"the pairing is {pairing.get('status')}")
    if not note.strip():
        raise Invalid("empty_note", "say something in the note", field="note")
    mentor_id, mentee_id = _parties(pairing)
    shared_with_id = None
    if share_with_manager:
        if from_id != mentee_id:
            raise Invalid("only_the_mentee_shares", "only the mentee may share a thank-you with the mentor's manager",
                          field="share_with_manager")
        if not mentor_manager_id or mentor_manager_id in (mentor_id, mentee_id):
            raise Invalid("no_manager", "the HRIS names no manager of your mentor to share this with",
                          field="share_with_manager")
        shared_with_id = mentor_manager_id
    return NewEvent(KUDOS_SENT, {
        "kudos_id": kudos_id, "pairing_id": pairing["pairing_id"], "cohort_id": pairing["cohort_id"],
        "from_id": from_id, "to_id": mentee_id if from_id == mentor_id else mentor_id,
        "shared_with_id": shared_with_id,
    })
