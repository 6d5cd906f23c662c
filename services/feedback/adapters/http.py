"""HTTP: feedback, progress reviews, the cohort survey, kudos, and privacy-preserving insight."""
from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

from flask import Response, current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from shared.errors import NotFound
from shared.http.app import request_causation
from shared.http.auth import current_principal, require
from shared.http.scopes import admin_of_cohort
from services.feedback.application.commands import Done
from services.feedback.domain.rules import GiveFeedback

blp = Blueprint("feedback", __name__, url_prefix="/v1", description="Feedback, reviews, surveys and kudos")


def _context():
    return current_app.extensions["feedback"]


def _commands():
    return _context().commands


def _queries():
    return _context().queries


def _settled(done: Done) -> str:
    """The id, once the views include the command's commit (the caller's next read shows it)."""
    context = _context()
    context.projector.wait_for(done.position, timeout_s=context.settings.read_your_writes_timeout_s)
    return done.id


def _list(items: list) -> dict:
    return {"items": items, "next": None}


# -- schemas ------------------------------------------------------------------------------------
# Every string in a request is bounded (issue 12, hostile input): a huge value is a 422 naming
# its field, never stored.

MAX_ID = 128


class FeedbackRequest(Schema):
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    meeting_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=MAX_ID))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                            metadata={"description": "private to the author unless share_comment is true"})
    share_comment = fields.Boolean(load_default=False)
    good_fit = fields.Boolean(load_default=None, allow_none=True,
                              metadata={"description": "false ends the pairing (matching answers FeedbackGiven)"})


class FeedbackCreated(Schema):
    feedback_id = fields.String()


class FeedbackAboutMe(Schema):
    feedback_id = fields.String()
    pairing_id = fields.String()
    cohort_id = fields.String()
    meeting_id = fields.String(allow_none=True)
    from_id = fields.String()
    rating = fields.Integer()
    good_fit = fields.Boolean(allow_none=True)
    comment = fields.String(allow_none=True, metadata={"description": "only when its author shared it"})
    given_at = fields.String(allow_none=True)


class FeedbackAboutMeList(Schema):
    items = fields.List(fields.Nested(FeedbackAboutMe))
    next = fields.String(allow_none=True)


class GoalProgress(Schema):
    goal_id = fields.String(required=True, validate=validate.Length(min=1, max=MAX_ID))
    progress = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100))


class ReviewAnswer(Schema):
    goal_progress = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    satisfaction = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    goals = fields.List(fields.Nested(GoalProgress), load_default=None, allow_none=True,
                        validate=validate.Length(max=50),
                        metadata={"description": "progress per goal of the pairing (the goals sessions lists), "
                                                 "each once; kept with the answer, never on Kafka"})


class ReviewAnswered(Schema):
    review_id = fields.String()


class Review(Schema):
    review_id = fields.String()
    pairing_id = fields.String()
    cohort_id = fields.String()
    due_on = fields.String()
    submitted = fields.Boolean()
    goals = fields.List(fields.Nested(GoalProgress), allow_none=True,
                        metadata={"description": "the caller's progress per goal in their answer, if they gave it"})


class ReviewList(Schema):
    items = fields.List(fields.Nested(Review))
    next = fields.String(allow_none=True)


class SurveyAnswer(Schema):
    recommend_score = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10))


class SurveyAnswered(Schema):
    survey_id = fields.String()


class Survey(Schema):
    survey_id = fields.String()
    cohort_id = fields.String()
    answered = fields.Boolean()


class SurveyList(Schema):
    items = fields.List(fields.Nested(Survey))
    next = fields.String(allow_none=True)


class KudosRequest(Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=500))
    share_with_manager = fields.Boolean(load_default=False, metadata={
        "description": "the mentee thanking their mentor only: also share it with the mentor's manager (HRIS)"})


class KudosCreated(Schema):
    kudos_id = fields.String()


class Kudos(Schema):
    kudos_id = fields.String()
    pairing_id = fields.String()
    cohort_id = fields.String()
    from_id = fields.String()
    note = fields.String()
    sent_at = fields.String()


class KudosList(Schema):
    items = fields.List(fields.Nested(Kudos))
    next = fields.String(allow_none=True)


class SharedKudos(Schema):
    kudos_id = fields.String()
    pairing_id = fields.String()
    from_id = fields.String(metadata={"description": "the mentee who wrote it"})
    from_name = fields.String(metadata={"description": "their HRIS display name"})
    to_id = fields.String(metadata={"description": "the mentor it thanks (the caller's report)"})
    to_name = fields.String(metadata={"description": "their HRIS display name"})
    note = fields.String()
    sent_at = fields.String()


class SharedKudosList(Schema):
    items = fields.List(fields.Nested(SharedKudos))
    next = fields.String(allow_none=True)


# -- feedback -----------------------------------------------------------------------------------


@blp.route("/pairings/<pairing_id>/feedback", methods=["POST"])
@require()
@blp.arguments(FeedbackRequest)
@blp.response(201, FeedbackCreated)
def give_feedback(body: dict, pairing_id: str):
    """Rate a held meeting (once per party) or the pairing; the comment stays private unless shared."""
    principal = current_principal()
    command = GiveFeedback(pairing_id=pairing_id, from_id=principal.subject, rating=body["rating"],
                           meeting_id=body.get("meeting_id"), comment=body.get("comment"),
                           share_comment=body.get("share_comment", False), good_fit=body.get("good_fit"))
    return {"feedback_id": _settled(_commands().give_feedback(command, request_causation()))}


@blp.route("/me/feedback", methods=["GET"])
@require()
@blp.response(200, FeedbackAboutMeList)
def feedback_about_me():
    """Feedback about the caller: ratings, and comments only where their authors shared them."""
    return _list(_queries().feedback_about(current_principal().subject))


class PersonalSummaryOut(Schema):
    employee_id = fields.String()
    ratings = fields.Integer()
    respondents = fields.Integer()
    mean_rating = fields.Float(allow_none=True)
    distribution = fields.Dict(keys=fields.String(), values=fields.Integer())
    shared_comments = fields.Integer()


class CohortSummaryOut(Schema):
    """The published daily snapshot; the blocks' inner figures are described in docs and the README."""
    cohort_id = fields.String()
    as_of = fields.String()
    feedback = fields.Dict()
    good_fit = fields.Dict()
    reviews = fields.Dict()
    survey = fields.Dict()
    min_respondents = fields.Integer()
    withheld = fields.List(fields.String())


@blp.route("/me/feedback/summary", methods=["GET"])
@require()
@blp.response(200, PersonalSummaryOut)
def my_summary():
    """The caller's own summary (e.g. a mentor's ratings across their mentees)."""
    return {"employee_id": current_principal().subject, **_queries().personal_summary(current_principal().subject)}


# -- insight for admins ---------------------------------------------------------------------------


@blp.route("/cohorts/<cohort_id>/feedback/summary", methods=["GET"])
@require()
@admin_of_cohort()
@blp.response(200, CohortSummaryOut)
def cohort_summary(cohort_id: str):
    """Response rates, ratings, NPS and review satisfaction over time; breakdowns over fewer
    than 5 respondents are withheld (null and listed in `withheld`); never comments."""
    summary = _queries().cohort_summary(cohort_id)
    if summary is None:
        raise NotFound("cohort_not_found", f"no cohort {cohort_id} is known to the feedback service")
    return summary


EXPORT_COLUMNS = ("pairing_id", "mentor_id", "mentee_id", "status", "meetings_held", "last_meeting_at", "ratings")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading quote
    (OWASP "CSV injection"); ids and names come from people and other services."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def attachment(filename: str) -> str:
    """Content-Disposition for any file name: an ASCII fallback, and the exact name in RFC 5987
    `filename*` (a non-ASCII header value fails under gunicorn: it answered 500)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@blp.route("/cohorts/<cohort_id>/feedback/export.csv", methods=["GET"])
@require()
@admin_of_cohort()
@blp.doc(responses={"200": {"description": "One row per pairing.",
                            "content": {"text/csv": {"schema": {"type": "string"}}}}})
def cohort_export(cohort_id: str):
    """CSV: one row per pairing with meeting count, last meeting, number of ratings and status.

    No mean rating per pairing (issue 13): a pairing has at most two raters, so its mean tells
    who rated what; the rating numbers are in the cohort summary, above its minimum group size.
    """
    rows = _queries().export_rows(cohort_id)
    if rows is None:
        raise NotFound("cohort_not_found", f"no cohort {cohort_id} is known to the feedback service")
    buffer = io.StringIO()
    # CRLF rows (RFC 4180): the writer then quotes any cell holding a CR, which "\n" rows left bare.
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: csv_cell(value) for name, value in row.items()})
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": attachment(f"cohort-{cohort_id}-feedback.csv")})


# -- progress reviews and the survey --------------------------------------------------------------


@blp.route("/me/reviews", methods=["GET"])
@require()
@blp.response(200, ReviewList)
def my_reviews():
    return _list(_queries().reviews_of(current_principal().subject))


@blp.route("/reviews/<review_id>/answers", methods=["POST"])
@require()
@blp.arguments(ReviewAnswer)
@blp.response(201, ReviewAnswered)
def answer_review(body: dict, review_id: str):
    """Answer a progress review asked of the caller (once)."""
    return {"review_id": _settled(_commands().submit_review(
        review_id, current_principal().subject, body["goal_progress"], body["satisfaction"], request_causation(),
        goals=body.get("goals")))}


@blp.route("/me/surveys", methods=["GET"])
@require()
@blp.response(200, SurveyList)
def my_surveys():
    return _list(_queries().surveys_of(current_principal().subject))


@blp.route("/surveys/<survey_id>/answers", methods=["POST"])
@require()
@blp.arguments(SurveyAnswer)
@blp.response(201, SurveyAnswered)
def answer_survey(body: dict, survey_id: str):
    """Answer the end-of-cohort survey (0–10: would you recommend this programme?), once."""
    return {"survey_id": _settled(_commands().answer_survey(
        survey_id, current_principal().subject, body["recommend_score"], request_causation()))}


# -- kudos --------------------------------------------------------------------------------------


@blp.route("/pairings/<pairing_id>/kudos", methods=["POST"])
@require()
@blp.arguments(KudosRequest)
@blp.response(201, KudosCreated)
def send_kudos(body: dict, pairing_id: str):
    """Thank the other party of a pairing; the note stays here, the recipient is told."""
    return {"kudos_id": _settled(_commands().send_kudos(
        pairing_id, current_principal().subject, body["note"], request_causation(),
        share_with_manager=body.get("share_with_manager", False)))}


@blp.route("/me/kudos", methods=["GET"])
@require()
@blp.response(200, KudosList)
def my_kudos():
    """Kudos sent to the caller, with their notes."""
    return _list(_queries().kudos_for(current_principal().subject))


@blp.route("/me/kudos/shared", methods=["GET"])
@require()
@blp.response(200, SharedKudosList)
def kudos_shared_with_me():
    """Thank-yous mentees shared with the caller as their mentor's manager (issue 15), newest first."""
    return _list(_queries().kudos_shared_with(current_principal().subject))
