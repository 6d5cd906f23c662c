"""Events of the feedback service on `mentoring.feedback.v1` (docs/events.md).

Ids, not personal data: a feedback comment travels only when its author chose to share it,
and a kudos note never does (the recipient reads it in the feedback service). Both are stored
in the same commit as their event, in a part the relay never publishes.

Schema history (issue 13, aggregates that cannot be differenced): ReviewSubmitted v2 and
SurveyAnswered v2 name the respondent by `respondent`, a keyed hash of the employee id (secret:
Settings.feedback_pseudonym_secret), instead of `employee_id`, and carry no scores: the answers
stay in the commit's private part, read only inside the feedback service (a review or survey id
is derived from the person, so scores next to it would point at them whatever the name field
said). The upcasters drop v1's `employee_id` (respondent: null, "not recorded") and keep v1's
scores, which those events did publish. A review's progress per goal (issue 15, `[{goal_id,
progress}]`) joins the scores in the private part for the same reason: ReviewSubmitted carries none.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from shared.events.catalog.matching import PERSON_ERASED, PersonErasedV1
from shared.events.registry import EventRegistry

# -- event types -------------------------------------------------------------------------------
FEEDBACK_GIVEN = "FeedbackGiven"
REVIEW_REQUESTED = "ReviewRequested"
REVIEW_SUBMITTED = "ReviewSubmitted"
SURVEY_REQUESTED = "SurveyRequested"
SURVEY_ANSWERED = "SurveyAnswered"
KUDOS_SENT = "KudosSent"

# -- aggregate types ---------------------------------------------------------------------------
FEEDBACK = "feedback"
REVIEW = "review"
SURVEY = "survey"
KUDOS = "kudos"

_ID = dict(required=True, validate=validate.Length(min=1))


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE


class FeedbackGivenV1(_Base):
    feedback_id = fields.String(**_ID)
    pairing_id = fields.String(**_ID)
    cohort_id = fields.String(**_ID)
    meeting_id = fields.String(required=True, allow_none=True)
    from_id = fields.String(**_ID)
    about_id = fields.String(**_ID)
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    good_fit = fields.Boolean(load_default=None, allow_none=True)
    comment_shared = fields.Boolean(required=True)
    comment = fields.String(load_default=None, allow_none=True)


class ReviewRequestedV1(_Base):
    review_id = fields.String(**_ID)
    pairing_id = fields.String(**_ID)
    cohort_id = fields.String(**_ID)
    employee_id = fields.String(**_ID)
    due_on = fields.Date(required=True)


class ReviewSubmittedV1(_Base):
    review_id = fields.String(**_ID)
    pairing_id = fields.String(**_ID)
    cohort_id = fields.String(**_ID)
    employee_id = fields.String(**_ID)
    goal_progress = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    satisfaction = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))


class ReviewSubmittedV2(_Base):
    review_id = fields.String(**_ID)
    pairing_id = fields.String(**_ID)
    cohort_id = fields.String(**_ID)
    respondent = fields.String(required=True, allow_none=True, validate=validate.Length(min=1),
                               metadata={"privacy": "identifier",
                                         "description": "keyed hash of the employee id; null in v1 events"})
    goal_progress = fields.Integer(allow_none=True, strict=True,
                                   validate=validate.Range(min=1, max=5),
                                   metadata={"description": "v1 events only; since v2 in the commit's private part"})
    satisfaction = fields.Integer(allow_none=True, strict=True,
                                  validate=validate.Range(min=1, max=5),
                                  metadata={"description": "v1 events only; since v2 in the commit's private part"})


def review_submitted_v1_to_v2(data: dict) -> dict:
    """v1 named the employee; v2 has no such field: "not recorded", never a guess."""
    return {**{k: v for k, v in data.items() if k != "employee_id"}, "respondent": None}


class SurveyRequestedV1(_Base):
    survey_id = fields.String(**_ID)
    cohort_id = fields.String(**_ID)
    employee_id = fields.String(**_ID)


class SurveyAnsweredV1(_Base):
    survey_id = fields.String(**_ID)
    cohort_id = fields.String(**_ID)
    employee_id = fields.String(**_ID)
    recommend_score = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10))


class SurveyAnsweredV2(_Base):
    survey_id = fields.String(**_ID)
    cohort_id = fields.String(**_ID)
    respondent = fields.String(required=True, allow_none=True, validate=validate.Length(min=1),
                               metadata={"privacy": "identifier",
                                         "description": "keyed hash of the employee id; null in v1 events"})
    recommend_score = fields.Integer(allow_none=True, strict=True,
                                     validate=validate.Range(min=0, max=10),
                                     metadata={"description": "v1 events only; since v2 in the commit's private part"})


def survey_answered_v1_to_v2(data: dict) -> dict:
    return {**{k: v for k, v in data.items() if k != "employee_id"}, "respondent": None}


class KudosSentV1(_Base):
    kudos_id = fields.String(**_ID)
    pairing_id = fields.String(**_ID)
    cohort_id = fields.String(**_ID)
    from_id = fields.String(**_ID)
    to_id = fields.String(**_ID)
    # Issue 15: a mentee may share a thank-you with the mentor's manager (the HRIS `manager_id` when it
    # was sent), who is told and may read the note in the feedback service; null: not shared (and
    # every event from before the field existed). The note itself never travels.
    shared_with_id = fields.String(load_default=None, allow_none=True, metadata={
        "privacy": "identifier", "description": "the mentor's manager the mentee shared the thank-you with; null: not shared"})


def register(registry: EventRegistry) -> None:
    registry.register(FEEDBACK_GIVEN, 1, FeedbackGivenV1)
    registry.register(REVIEW_REQUESTED, 1, ReviewRequestedV1)
    registry.register(REVIEW_SUBMITTED, 1, ReviewSubmittedV1)
    registry.register(REVIEW_SUBMITTED, 2, ReviewSubmittedV2)
    registry.register_upcaster(REVIEW_SUBMITTED, 1, review_submitted_v1_to_v2)
    registry.register(SURVEY_REQUESTED, 1, SurveyRequestedV1)
    registry.register(SURVEY_ANSWERED, 1, SurveyAnsweredV1)
    registry.register(SURVEY_ANSWERED, 2, SurveyAnsweredV2)
    registry.register_upcaster(SURVEY_ANSWERED, 1, survey_answered_v1_to_v2)
    registry.register(KUDOS_SENT, 1, KudosSentV1)
    registry.register(PERSON_ERASED, 1, PersonErasedV1)  # `service`: "feedback" (shared.erasure)
