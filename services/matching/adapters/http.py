"""HTTP: programmes, cohorts, enrolments, matching runs, the pairing lifecycle, participants (contract §5, §6).

Handlers call the command handlers (which append, then wait for the views when the answer needs
them) and read the views; they never write a view. Matching runs are asynchronous: the POST
answers 202 with `run_id`, `GET /v1/matching-runs/{run_id}` gives the status and the result.
"""
from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared import directory
from shared.errors import Forbidden, NotFound
from shared.events.catalog import matching as ev
from shared.http import audit
from shared.http.app import request_causation
from shared.http.auth import current_principal, require
from shared.http.scopes import admin_of_cohort, admin_of_program, manages_cohort, require_admin_of_cohort, scopes
from services.matching.adapters.bulk_enrolment import BulkEnrollmentOut, bulk_or
from services.matching.application.circles import circle_out, co_members
from services.matching.application.commands import Actor, MatchingCommands
from services.matching.application.partners import managed_enrolment, visible_profile
from services.matching.application.projections import pairing_document, stats_of
from services.matching.application.runs import run_summary
from services.matching.domain.cohort import (
    DEFAULT_ANSWER_DEADLINE_DAYS, DEFAULT_CADENCE_DAYS, DEFAULT_MATCHING_STYLE, MATCHING_STYLES, STATUSES,
)
from services.matching.domain.pairing import DECLINE_REASONS, END_REASONS, PairingState
from services.matching.domain.rules import CROSS_DEPARTMENT_MODES, DEFAULT_WEIGHTS, MatchingRules

blp = Blueprint("matching", __name__, url_prefix="/v1", description="Programmes, cohorts, enrolment and pairings")
participants_blp = Blueprint("participants", __name__, url_prefix="/v1",
                             description="Participant profiles from the HRIS")

MODES = ev.MATCHING_MODES
PAIRING_STATUSES = ev.PAIRING_STATUSES
_nonempty = validate.Length(min=1)


def _context():
    return current_app.extensions["matching"]


def _commands() -> MatchingCommands:
    return _context().commands


def _actor() -> Actor:
    principal = current_principal()
    return Actor(principal.subject, principal.is_admin)


def _actor_in_cohort(cohort_id: str) -> Actor:
    """The caller as the cohort sees them: an admin there if a platform admin or a manager of its
    programme (shared.http.scopes)."""
    principal = current_principal()
    return Actor(principal.subject, manages_cohort(principal, cohort_id))


# ------------------------------------------------------------------------------- schemas

class ProgramIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class ProgramCreated(Schema):
    program_id = fields.String()


class WeightsIn(Schema):
    topics = fields.Float(validate=validate.Range(min=0, max=10))
    timezone = fields.Float(validate=validate.Range(min=0, max=10))
    department = fields.Float(validate=validate.Range(min=0, max=10))
    level_gap = fields.Float(validate=validate.Range(min=0, max=10))
    preferred = fields.Float(validate=validate.Range(min=0, max=10))


class RulesIn(Schema):
    """Hard constraints (each switchable; mentor capacity always applies) and score weights."""

    min_level_gap = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=9),
                                   metadata={"description": "mentor at least N levels above mentee; 0/null: off"})
    require_shared_language = fields.Boolean()
    exclude_management_chain = fields.Boolean()
    respect_exclude_list = fields.Boolean()
    require_active = fields.Boolean()
    cross_department = fields.String(validate=validate.OneOf(CROSS_DEPARTMENT_MODES),
                                     metadata={"description": "bonus: prefer different departments; malus: the same"})
    weights = fields.Nested(WeightsIn)

    @validates_schema
    def _some_weight(self, data, **kwargs):
        weights = {**DEFAULT_WEIGHTS, **(data.get("weights") or {})}
        if sum(weights.values()) <= 0:
            raise ValidationError("at least one weight must be positive", field_name="weights")


class CohortIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    meeting_cadence_days = fields.Integer(strict=True, load_default=DEFAULT_CADENCE_DAYS,
                                          validate=validate.Range(min=1, max=365))
    answer_deadline_days = fields.Integer(strict=True, load_default=DEFAULT_ANSWER_DEADLINE_DAYS,
                                          validate=validate.Range(min=1, max=90))
    rules = fields.Nested(RulesIn, load_default=dict)
    max_mentor_capacity = fields.Integer(strict=True, load_default=None, allow_none=True,
                                         validate=validate.Range(min=1, max=ev.MAX_CAPACITY),
                                         metadata={"description": "the most mentees any mentor may take; null: none"})
    matching_style = fields.String(load_default=DEFAULT_MATCHING_STYLE, validate=validate.OneOf(MATCHING_STYLES),
                                   metadata={"description": "admin_run, mentee_choice or both"})
    format = fields.String(load_default="pair", validate=validate.OneOf(ev.COHORT_FORMATS),
                           metadata={"description": "pair (default) or circle: one mentor and a group of mentees "
                                                    "(docs/api-circles.md)"})
    circle_min_size = fields.Integer(strict=True, load_default=ev.DEFAULT_CIRCLE_MIN_SIZE,
                                     validate=validate.Range(min=1, max=ev.MAX_CIRCLE_SIZE),
                                     metadata={"description": "fewest mentees a circle opens with (default 3)"})
    circle_max_size = fields.Integer(strict=True, load_default=ev.DEFAULT_CIRCLE_MAX_SIZE,
                                     validate=validate.Range(min=1, max=ev.MAX_CIRCLE_SIZE),
                                     metadata={"description": "most mentees a circle holds (default 8)"})

    @validates_schema
    def _dates(self, data, **kwargs):
        _dates_ordered(data)


def _dates_ordered(data: dict) -> None:
    if data.get("starts_on") and data.get("ends_on") and data["ends_on"] <= data["starts_on"]:
        raise ValidationError("must be after starts_on", field_name="ends_on")


class CohortPatchIn(Schema):
    """Any of a cohort's settings; only those that differ from the stored ones become an event."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    starts_on = fields.Date()
    ends_on = fields.Date()
    meeting_cadence_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=365))
    answer_deadline_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=90))
    rules = fields.Nested(RulesIn, metadata={"description": "replaces the cohort's rules (omitted keys: defaults)"})
    max_mentor_capacity = fields.Integer(strict=True, allow_none=True,
                                         validate=validate.Range(min=1, max=ev.MAX_CAPACITY))
    matching_style = fields.String(validate=validate.OneOf(MATCHING_STYLES))
    format = fields.String(validate=validate.OneOf(ev.COHORT_FORMATS),
                           metadata={"description": "only while the cohort is draft or enrolling (409 format_locked)"})
    circle_min_size = fields.Integer(strict=True, validate=validate.Range(min=1, max=ev.MAX_CIRCLE_SIZE))
    circle_max_size = fields.Integer(strict=True, validate=validate.Range(min=1, max=ev.MAX_CIRCLE_SIZE))

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError("name at least one setting to change", field_name="_schema")
        _dates_ordered(data)


class DuplicateIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)

    @validates_schema
    def _dates(self, data, **kwargs):
        _dates_ordered(data)


class ListQuery(Schema):
    cursor = fields.String(validate=_nonempty)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ManagersIn(Schema):
    managers = fields.List(fields.String(validate=validate.Length(min=1, max=100)), required=True,
                           validate=validate.Length(max=ev.MAX_PROGRAM_MANAGERS),
                           metadata={"description": "employee ids; the whole list (empty: no managers)"})


class ManagersOut(Schema):
    program_id = fields.String()
    managers = fields.List(fields.String())


class ManagedProgramOut(Schema):
    program_id = fields.String()
    name = fields.String(allow_none=True)


class ManagedProgramPage(Schema):
    items = fields.List(fields.Nested(ManagedProgramOut))
    next = fields.String(allow_none=True)


class ProgramOut(Schema):
    program_id = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    created_by = fields.String()
    cohort_count = fields.Integer()


class ProgramPage(Schema):
    items = fields.List(fields.Nested(ProgramOut))
    next = fields.String(allow_none=True)


class CohortOut(Schema):
    cohort_id = fields.String()
    program_id = fields.String()
    name = fields.String()
    status = fields.String()
    starts_on = fields.String()
    ends_on = fields.String()
    meeting_cadence_days = fields.Integer()
    answer_deadline_days = fields.Integer()
    rules = fields.Dict()
    max_mentor_capacity = fields.Integer(allow_none=True)
    matching_style = fields.String()
    duplicated_from = fields.String(allow_none=True)
    format = fields.String(dump_default="pair", metadata={"description": "pair or circle"})
    circle_min_size = fields.Integer(dump_default=ev.DEFAULT_CIRCLE_MIN_SIZE)
    circle_max_size = fields.Integer(dump_default=ev.DEFAULT_CIRCLE_MAX_SIZE)
    runs = fields.List(fields.String())


class CohortPage(Schema):
    items = fields.List(fields.Nested(CohortOut))
    next = fields.String(allow_none=True)


class StatusIn(Schema):
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))


class PreferencesIn(Schema):
    same_timezone = fields.Boolean()
    languages = fields.List(fields.String(validate=validate.Length(equal=2)))
    exclude = fields.List(fields.String(validate=_nonempty))  # type: ignore[assignment]  # a field, not Meta.exclude
    preferred_mentors = fields.List(fields.String(validate=_nonempty))


class EnrollmentIn(Schema):
    """One line of cohort-enrollments.jsonl."""

    employee_id = fields.String(required=True, validate=_nonempty)
    role = fields.String(required=True, validate=validate.OneOf(("mentor", "mentee")))
    capacity = fields.Integer(strict=True, validate=validate.Range(min=0, max=50))
    topics = fields.List(fields.String(validate=_nonempty), required=True)
    goals_summary = fields.String(allow_none=True, validate=validate.Length(max=2000))
    preferences = fields.Nested(PreferencesIn)

    @validates_schema
    def _capacity(self, data, **kwargs):
        if data.get("role") == "mentor" and not data.get("capacity"):
            raise ValidationError("a mentor needs a capacity of at least 1", field_name="capacity")
        if data.get("role") == "mentee" and data.get("capacity"):
            raise ValidationError("a mentee has no capacity", field_name="capacity")


class EnrollmentOut(Schema):
    enrollment_id = fields.String()
    cohort_id = fields.String()
    employee_id = fields.String()
    role = fields.String()


class EnrollmentQuery(ListQuery):
    role = fields.String(validate=validate.OneOf(ev.ROLES))
    status = fields.String(validate=validate.OneOf(("active", "withdrawn")))
    q = fields.String(validate=validate.Length(min=1, max=100),
                      metadata={"description": "employee id prefix"})


class EnrollmentRowOut(Schema):
    enrollment_id = fields.String()
    cohort_id = fields.String()
    employee_id = fields.String()
    role = fields.String()
    capacity = fields.Integer()
    topics = fields.List(fields.String())
    status = fields.String(metadata={"description": "active or withdrawn"})
    paused = fields.Boolean()
    enrolled_at = fields.String(allow_none=True)
    withdrawal_reason = fields.String(allow_none=True)


class EnrollmentPage(Schema):
    items = fields.List(fields.Nested(EnrollmentRowOut))
    next = fields.String(allow_none=True)


class EnrollmentPatchIn(Schema):
    capacity = fields.Integer(strict=True, validate=validate.Range(min=1, max=ev.MAX_CAPACITY),
                              metadata={"description": "a mentor's seats; below the seats taken offers no new one"})
    paused = fields.Boolean(metadata={"description": "no new proposals while paused; pairings stay"})

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError("give capacity and/or paused", field_name="_schema")


class RunIn(Schema):
    mode = fields.String(load_default="maximize_score", validate=validate.OneOf(MODES))
    dry_run = fields.Boolean(load_default=False)


class UnmatchedOut(Schema):
    mentee_id = fields.String()
    reason = fields.String()
    detail = fields.String(allow_none=True)


class ProposalOut(Schema):
    pairing_id = fields.String(allow_none=True)
    mentor_id = fields.String()
    mentee_id = fields.String()
    score = fields.Float()
    reasons = fields.List(fields.String())
    circle_id = fields.String(allow_none=True, metadata={"description": "the circle the mentee joins (circle cohorts)"})


class RunCircleOut(Schema):
    circle_id = fields.String()
    mentor_id = fields.String()
    mentee_ids = fields.List(fields.String(), metadata={"description": "the mentees this run adds to the circle"})


class RunAccepted(Schema):
    run_id = fields.String()
    cohort_id = fields.String()
    mode = fields.String()
    dry_run = fields.Boolean()
    status = fields.String(metadata={"description": "running: poll GET /v1/matching-runs/{run_id}"})


class RunProgressOut(Schema):
    phase = fields.String(metadata={"description": "queued, computing, proposing, done or failed"})
    matched = fields.Integer(allow_none=True)
    proposals_created = fields.Integer(allow_none=True)


class RunFailureOut(Schema):
    reason = fields.String()
    detail = fields.String(allow_none=True)


class RunOut(Schema):
    run_id = fields.String()
    cohort_id = fields.String()
    status = fields.String(metadata={"description": "running, completed or failed"})
    mode = fields.String()
    dry_run = fields.Boolean()
    requested_by = fields.String(allow_none=True)
    requested_at = fields.String(allow_none=True)
    completed_at = fields.String(allow_none=True)
    progress = fields.Nested(RunProgressOut)
    input_hash = fields.String(allow_none=True)
    matched = fields.Integer(allow_none=True)
    unmatched_count = fields.Integer(allow_none=True)
    total_score = fields.Float(allow_none=True)
    answer_by = fields.String(allow_none=True)
    unmatched = fields.List(fields.Nested(UnmatchedOut))
    proposals = fields.List(fields.Nested(ProposalOut))
    circles = fields.List(fields.Nested(RunCircleOut), metadata={
        "description": "a circle cohort's run: its proposals by circle (a dry run's preview); [] for pairs"})
    failure = fields.Nested(RunFailureOut, allow_none=True)


class ManualProposalIn(Schema):
    mentor_id = fields.String(required=True, validate=_nonempty)
    mentee_id = fields.String(required=True, validate=_nonempty)


class PairingOut(Schema):
    pairing_id = fields.String()
    cohort_id = fields.String()
    mentor_id = fields.String()
    mentee_id = fields.String()
    status = fields.String()
    score = fields.Float()
    reasons = fields.List(fields.String())
    proposed_by = fields.String()
    matching_run_id = fields.String(allow_none=True)
    answer_by = fields.String(allow_none=True)
    mentor_accepted = fields.Boolean()
    mentee_accepted = fields.Boolean()
    end_reason = fields.String(allow_none=True)
    decline_reason = fields.String(allow_none=True)
    completed_at = fields.String(allow_none=True, metadata={"description": "when its cohort closed (completed)"})
    mentor_stays_in_touch = fields.Boolean(allow_none=True, metadata={
        "description": "the mentor's answer to staying in touch after completion; null: not answered"})
    mentee_stays_in_touch = fields.Boolean(allow_none=True, metadata={
        "description": "the mentee's answer to staying in touch after completion; null: not answered"})
    staying_in_touch = fields.Boolean(metadata={"description": "completed, and both said yes"})
    circle_id = fields.String(allow_none=True, metadata={
        "description": "the circle this pairing is a member of (GET /v1/circles/{circle_id}); null for a pair"})


class StayInTouchIn(Schema):
    stay_in_touch = fields.Boolean(required=True)


class PairingDetailOut(PairingOut):
    """One pairing as its parties read it: with what the mentee wrote for the mentor."""

    message = fields.String(allow_none=True, metadata={
        "description": "a mentee's request: their message to the mentor (the pair only)"})
    goals_summary = fields.String(allow_none=True, metadata={
        "description": "the mentee's goals summary from their enrolment (the pair only)"})


class PairingPage(Schema):
    items = fields.List(fields.Nested(PairingOut))
    next = fields.String(allow_none=True)


class PairingQuery(Schema):
    status = fields.String(validate=validate.OneOf(PAIRING_STATUSES))
    cursor = fields.String(validate=_nonempty)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class AnswerIn(Schema):
    role = fields.String(validate=validate.OneOf(("mentor", "mentee")),
                         metadata={"description": "the party an admin answers for"})


class DeclineIn(AnswerIn):
    reason = fields.String(allow_none=True, validate=validate.OneOf(DECLINE_REASONS))


class EndIn(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(END_REASONS))


class StatsOut(Schema):
    cohort_id = fields.String()
    enrolled = fields.Integer()
    mentors = fields.Integer()
    mentees = fields.Integer()
    proposed = fields.Integer()
    active = fields.Integer()
    unmatched = fields.Integer(metadata={"description": "enrolled mentees with no proposed, active or completed pairing"})
    waiting_for_answers = fields.Integer(metadata={"description": "answers still owed on open proposals"})
    completed = fields.Integer(metadata={"description": "pairings completed at the cohort's close"})
    cohort = fields.Nested(CohortOut, metadata={"description": "the cohort, as GET /v1/cohorts/{cohort_id} "
                                                               "gives it (a console page needs both: one call)"})


class SuggestionsQuery(Schema):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50),
                           metadata={"description": "how many of the best mentors (default 10)"})


class CardOut(Schema):
    employee_id = fields.String()
    display_name = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    location = fields.String(allow_none=True)
    timezone = fields.String(allow_none=True)
    languages = fields.List(fields.String(), allow_none=True)
    skills = fields.List(fields.String(), allow_none=True)


class SuggestionOut(Schema):
    mentor_id = fields.String()
    score = fields.Float()
    reasons = fields.List(fields.String())
    seats_left = fields.Integer()
    card = fields.Nested(CardOut, allow_none=True)


class SuggestionsOut(Schema):
    cohort_id = fields.String()
    mentee_id = fields.String()
    items = fields.List(fields.Nested(SuggestionOut), metadata={"description": "best score first"})
    next = fields.String(allow_none=True, metadata={"description": "always null: `limit` bounds the list"})
    eligible = fields.Integer(metadata={"description": "mentors eligible with a seat left, in all"})
    open_pairing_id = fields.String(allow_none=True, metadata={
        "description": "the caller's open request or pairing in this cohort (then no new request)"})
    can_request = fields.Boolean(metadata={"description": "a request would be taken now"})
    paused = fields.Boolean()


class MentorRequestIn(Schema):
    mentor_id = fields.String(required=True, validate=_nonempty)
    message = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                            metadata={"description": "to the mentor; personal text, never in an event"})


class ParticipantSchema(Schema):
    employee_id = fields.String()
    status = fields.String(metadata={"description": "active or terminated"})
    terminated_on = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    display_name = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    level = fields.Integer(allow_none=True)
    manager_id = fields.String(allow_none=True)
    location = fields.String(allow_none=True)
    timezone = fields.String(allow_none=True)
    languages = fields.List(fields.String())
    skills = fields.List(fields.String())
    hire_date = fields.String(allow_none=True)
    updated_at = fields.String(allow_none=True)


# ------------------------------------------------------------------------------- routes

@blp.route("/programs", methods=["POST"])
@require("admin")
@blp.arguments(ProgramIn)
@blp.response(201, ProgramCreated)
def create_program(body):
    """Create a programme (admin)."""
    return {"program_id": _commands().create_program(body["name"], body.get("description"), _actor(),
                                                     request_causation())}


@blp.route("/programs/<program_id>/managers", methods=["PUT"])
@require("admin")
@blp.arguments(ManagersIn)
@blp.response(200, ManagersOut)
def set_managers(body, program_id):
    """Name the programme's managers, the whole list (platform admins only): each may then do
    every admin thing inside this programme, in every service, once its event has reached it.
    422 names employees not active in the HRIS."""
    return _commands().set_program_managers(program_id, body["managers"], _actor(), request_causation())


@blp.route("/me/managed-programs", methods=["GET"])
@require()
@blp.response(200, ManagedProgramPage)
def managed_programs():
    """The programmes naming the caller as a manager (the portal shows them the console for these)."""
    views = _context().views
    items = []
    for program_id in scopes().programs_managed_by(current_principal().subject):
        doc = views.programs.get(program_id) or {}
        items.append({"program_id": program_id, "name": doc.get("name")})
    return {"items": items, "next": None}


@blp.route("/programs/<program_id>/cohorts", methods=["POST"])
@require()
@admin_of_program()
@blp.arguments(CohortIn)
@blp.response(201, CohortOut)
def create_cohort(body, program_id):
    """Create a cohort in a programme: dates, cadence, answer deadline and matching rules (admin or programme manager)."""
    return _commands().create_cohort(
        program_id, name=body["name"], starts_on=body["starts_on"], ends_on=body["ends_on"],
        meeting_cadence_days=body["meeting_cadence_days"], answer_deadline_days=body["answer_deadline_days"],
        rules=MatchingRules.from_dict(body.get("rules") or {}), max_mentor_capacity=body["max_mentor_capacity"],
        matching_style=body["matching_style"], format=body["format"], circle_min_size=body["circle_min_size"],
        circle_max_size=body["circle_max_size"], actor=_actor(), causation=request_causation())


@blp.route("/cohorts/<cohort_id>", methods=["GET"])
@require()
@blp.response(200, CohortOut)
def get_cohort(cohort_id):
    """A cohort (any authenticated employee)."""
    return _context().views.cohorts.get(cohort_id) or _commands().cohort_document(cohort_id)


@blp.route("/cohorts/<cohort_id>/status", methods=["POST"])
@require()
@admin_of_cohort()
@blp.arguments(StatusIn)
@blp.response(200, CohortOut)
def change_status(body, cohort_id):
    """Move a cohort to its next status (draft → enrolling → matching → active → closed) (admin or programme manager)."""
    return _commands().change_cohort_status(cohort_id, body["status"], _actor(), request_causation())


# -- programme management (issue 15): listings for the console, settings, next intake, seats --------

@blp.route("/programs", methods=["GET"])
@require()
@blp.arguments(ListQuery, location="query")
@blp.response(200, ProgramPage)
def list_programs(query):
    """Programmes, paginated by `next` (any authenticated employee: participants find cohorts to join)."""
    docs, cursor = _context().views.programs_page(after=query.get("cursor"), limit=query["limit"])
    return {"items": [{**doc, "cohort_count": len(doc.get("cohort_ids") or [])} for doc in docs], "next": cursor}


@blp.route("/programs/<program_id>/cohorts", methods=["GET"])
@require()
@blp.arguments(ListQuery, location="query")
@blp.response(200, CohortPage)
def list_cohorts(query, program_id):
    """A programme's cohorts in the order they were created, each as `GET /v1/cohorts/{id}` gives it."""
    page = _context().views.cohorts_of_program(program_id, after=query.get("cursor"), limit=query["limit"])
    if page is None:
        if _commands().programs.load(program_id).version == 0:
            raise NotFound("program_unknown", f"no programme {program_id}")
        page = ([], None)  # created a moment ago: the views have not caught up yet
    return {"items": page[0], "next": page[1]}


class OutcomeFigureOut(Schema):
    n = fields.Integer(metadata={"description": "people behind the figure"})
    rate = fields.Float(allow_none=True, metadata={"description": "null when fewer than k people are behind it"})
    ci_low = fields.Float(allow_none=True)
    ci_high = fields.Float(allow_none=True)
    suppressed = fields.Boolean()


class OutcomeComparisonOut(Schema):
    mentees = fields.Nested(OutcomeFigureOut)
    comparison = fields.Nested(OutcomeFigureOut, metadata={"description": "matched non-participants, standardised "
                                                                          "to the mentees' strata"})


class OutcomeHorizonOut(Schema):
    months = fields.Integer()
    mentees_observed = fields.Integer()
    unmatched = fields.Integer(metadata={"description": "mentees left out: fewer than k comparable people"})
    promotion = fields.Nested(OutcomeComparisonOut)
    retention = fields.Nested(OutcomeComparisonOut)


class ProgramOutcomesOut(Schema):
    program_id = fields.String()
    as_of = fields.String(metadata={"description": "the day (UTC) the figures are as of"})
    k = fields.Integer()
    closed_cohorts = fields.List(fields.String())
    mentees = fields.Integer()
    horizons = fields.List(fields.Nested(OutcomeHorizonOut))


@blp.route("/programs/<program_id>/outcomes", methods=["GET"])
@require()
@admin_of_program()
@blp.response(200, ProgramOutcomesOut)
def program_outcomes(program_id):
    """Did the programme make a difference (admin or the programme's managers): promotion and retention
    6 and 12 months after their cohort started, for the mentees of its closed cohorts, against
    non-participants matched on level, department and tenure; 95 % intervals; every figure backed
    by at least k = 5 people or null. The figures move once a day."""
    return _context().outcomes.of(program_id)


@blp.route("/cohorts/<cohort_id>", methods=["PATCH"])
@require()
@admin_of_cohort()
@blp.arguments(CohortPatchIn)
@blp.response(200, CohortOut)
def revise_cohort(body, cohort_id):
    """Change a cohort's settings (admin or programme manager): name, dates, cadence, answer deadline, rules, mentor capacity
    maximum, matching style. 422 names a bad field (dates are checked against the stored ones too)."""
    return _commands().revise_cohort(cohort_id, body, _actor(), request_causation())


@blp.route("/cohorts/<cohort_id>/duplicate", methods=["POST"])
@require()
@admin_of_cohort()
@blp.arguments(DuplicateIn)
@blp.response(201, CohortOut)
def duplicate_cohort(body, cohort_id):
    """The next intake: a new draft cohort with this one's settings, a new name and dates (admin or programme manager)."""
    return _commands().duplicate_cohort(cohort_id, name=body["name"], starts_on=body["starts_on"],
                                        ends_on=body["ends_on"], actor=_actor(), causation=request_causation())


@blp.route("/cohorts/<cohort_id>/enrollments", methods=["GET"])
@require()
@admin_of_cohort()
@blp.arguments(EnrollmentQuery, location="query")
@blp.response(200, EnrollmentPage)
def list_enrollments(query, cohort_id):
    """A cohort's enrolments in employee id order, by role, status and employee id prefix `q` (admin or programme manager)."""
    views = _context().views
    if views.cohorts.get(cohort_id) is None:
        _commands().cohort(cohort_id)  # 404 if it does not exist at all
    items, cursor = views.enrollments_page(cohort_id, role=query.get("role"), status=query.get("status"),
                                           prefix=query.get("q"), after=query.get("cursor"), limit=query["limit"])
    return {"items": items, "next": cursor}


@blp.route("/cohorts/<cohort_id>/enrollments/<employee_id>", methods=["PATCH"])
@require("admin", "participant")
@blp.arguments(EnrollmentPatchIn)
@blp.response(200, EnrollmentRowOut)
def revise_enrollment(body, cohort_id, employee_id):
    """A mentor's capacity and/or pausing (admins and the programme's managers anyone, participants
    themselves, within the cohort's `max_mentor_capacity`). Never ends a pairing; a paused person
    gets no new proposals."""
    actor = _actor_in_cohort(cohort_id)
    if not actor.is_admin and employee_id != actor.subject:
        raise Forbidden("not_yourself", "a participant changes only their own enrolment")
    return _commands().revise_enrollment(cohort_id, employee_id, capacity=body.get("capacity"),
                                         paused=body.get("paused"), actor=actor, causation=request_causation())


@blp.route("/cohorts/<cohort_id>/enrollments", methods=["POST"])
@require("admin", "participant")
@bulk_or(EnrollmentIn)
@blp.arguments(EnrollmentIn)
@blp.response(201, EnrollmentOut)
@blp.alt_response(200, schema=BulkEnrollmentOut, description="a bulk enrolment: every row's outcome")
def enroll(body, cohort_id):
    """Enrol an employee as mentor or mentee (admins and the programme's managers anyone,
    participants themselves).

    Admins and the programme's managers may send many at once: a JSON list of these bodies or a CSV
    (`Content-Type: text/csv`, the console import's columns), at most 20,000 rows: every row is
    checked and enrolled on its own, and the answer (200) lists each row's outcome
    (docs/api-programmes.md)."""
    actor = _actor_in_cohort(cohort_id)
    if not actor.is_admin and body["employee_id"] != actor.subject:
        raise Forbidden("not_yourself", "a participant enrols only themselves")
    return _commands().enroll(cohort_id, body, request_causation())


@blp.route("/cohorts/<cohort_id>/enrollments/<employee_id>/withdraw", methods=["POST"])
@require("admin", "participant")
@blp.response(200, EnrollmentOut)
def withdraw(cohort_id, employee_id):
    """Withdraw an enrolment (the person, an admin or a manager of the programme); their open
    pairings in the cohort end."""
    actor = _actor_in_cohort(cohort_id)
    if not actor.is_admin and employee_id != actor.subject:
        raise Forbidden("not_yourself", "a participant withdraws only themselves")
    reason = "withdrawn" if employee_id == actor.subject else "by_admin"
    return _commands().withdraw(cohort_id, employee_id, reason, actor, request_causation())


@blp.route("/cohorts/<cohort_id>/matching-runs", methods=["POST"])
@require()
@admin_of_cohort()
@blp.arguments(RunIn)
@blp.response(202, RunAccepted)
def run_matching(body, cohort_id):
    """Start a matching run for everyone unpaired (admin or programme manager); `dry_run` previews without proposing.

    Answers 202 with `run_id` at once; the worker computes the run. Poll
    `GET /v1/matching-runs/{run_id}` until `status` is `completed` (its pairings then exist and are
    listed) or `failed`.
    """
    accepted = _commands().request_run(cohort_id, mode=body["mode"], dry_run=body["dry_run"], actor=_actor(),
                                       causation=request_causation())
    return accepted, 202, {"Location": f"/v1/matching-runs/{accepted['run_id']}"}


@blp.route("/matching-runs/<run_id>", methods=["GET"])
@require()
@blp.response(200, RunOut)
def get_run(run_id):
    """A matching run: status (running, completed, failed), progress and result (admins and the
    cohort's programme managers; an unknown run is a 404 for platform admins, 403 for others)."""
    context = _context()
    run = context.views.runs.get(run_id)
    if run is None:  # the views may lag behind the request that started it: ask the run's stream
        state, _ = _commands().run(run_id)
        if not state.exists:
            require_admin_of_cohort(None)  # in no programme: 403 unless a platform admin
            raise NotFound("run_unknown", f"no matching run {run_id}")
        run = {"_id": run_id, "cohort_id": state.cohort_id, "mode": state.mode, "dry_run": state.dry_run,
               "requested_by": state.requested_by}
    require_admin_of_cohort(run["cohort_id"])
    proposals, unmatched = context.views.run_result(run)
    return run_summary(run, proposals, unmatched, context.progress.get(run_id))


@blp.route("/cohorts/<cohort_id>/pairings", methods=["POST"])
@require()
@admin_of_cohort()
@blp.arguments(ManualProposalIn)
@blp.response(201, PairingOut)
def propose(body, cohort_id):
    """Propose a specific pair by hand (admin or programme manager); a broken hard constraint gets 422 naming the rule."""
    return _commands().propose_manually(cohort_id, body["mentor_id"], body["mentee_id"], _actor(),
                                        request_causation())


@blp.route("/cohorts/<cohort_id>/pairings", methods=["GET"])
@require()
@blp.arguments(PairingQuery, location="query")
@blp.response(200, PairingPage)
def list_pairings(query, cohort_id):
    """Pairings of a cohort, by status, paginated (admins and the programme's managers see all,
    participants their own)."""
    actor = _actor_in_cohort(cohort_id)
    items, cursor = _context().views.pairings_page(cohort_id, status=query.get("status"),
                                                   party=None if actor.is_admin else actor.subject,
                                                   after=query.get("cursor"), limit=query["limit"])
    return {"items": items, "next": cursor}


def _visible_pairing(pairing_id: str) -> tuple[dict, Actor]:
    """The pairing (view, or the aggregate if the view has not caught up) if the caller may see it,
    and the caller as its cohort sees them (an admin there: a platform admin or a programme manager)."""
    doc = _context().views.pairings.get(pairing_id)
    if doc is None:
        loaded = _commands().pairings.load(pairing_id)
        state = PairingState.from_events(loaded.events)
        if not state.exists:
            raise NotFound("pairing_unknown", f"no pairing {pairing_id}")
        doc = pairing_document(state, version=loaded.version, updated_at=loaded.events[-1].occurred_at)
    actor = _actor_in_cohort(doc["cohort_id"])
    if not actor.is_admin and actor.subject not in (doc["mentor_id"], doc["mentee_id"]):
        raise Forbidden("not_a_party", "only the pair, admins and the programme's managers see a pairing")
    return doc, actor


@blp.route("/me/pairings", methods=["GET"])
@require()
@blp.arguments(PairingQuery, location="query")
@blp.response(200, PairingPage)
def my_pairings(query):
    """The caller's own pairings in every cohort, as mentor or mentee, by status, paginated (the
    portal's home: one call instead of one per cohort)."""
    items, cursor = _context().views.pairings_of_party_page(current_principal().subject, status=query.get("status"),
                                                            after=query.get("cursor"), limit=query["limit"])
    return {"items": items, "next": cursor}


@blp.route("/pairings/<pairing_id>", methods=["GET"])
@require()
@blp.response(200, PairingDetailOut)
def get_pairing(pairing_id):
    """One pairing (its mentor, its mentee, or an admin). The pair also read the mentee's goals
    summary and, on a mentee's request, their message to the mentor."""
    doc, actor = _visible_pairing(pairing_id)
    doc = dict(doc)
    message = doc.pop("message", None)
    if actor.subject in (doc["mentor_id"], doc["mentee_id"]):
        enrolment = _context().views.enrollments.get(f"{doc['cohort_id']}|{doc['mentee_id']}") or {}
        doc.update(message=message, goals_summary=enrolment.get("goals_summary"))
    return doc


@blp.route("/pairings/<pairing_id>/accept", methods=["POST"])
@require()
@blp.arguments(AnswerIn)
@blp.response(200, PairingOut)
def accept(body, pairing_id):
    """A party (or an admin for a named role) accepts; both accepted makes the pairing active."""
    _, actor = _visible_pairing(pairing_id)
    return _commands().accept(pairing_id, actor, body.get("role"), request_causation())


@blp.route("/pairings/<pairing_id>/decline", methods=["POST"])
@require()
@blp.arguments(DeclineIn)
@blp.response(200, PairingOut)
def decline(body, pairing_id):
    """A party (or an admin) declines; the pair is never proposed again in this cohort."""
    _, actor = _visible_pairing(pairing_id)
    return _commands().decline(pairing_id, actor, body.get("role"), body.get("reason"), request_causation())


@blp.route("/pairings/<pairing_id>/end", methods=["POST"])
@require()
@blp.arguments(EndIn)
@blp.response(200, PairingOut)
def end(body, pairing_id):
    """A party or an admin ends a proposed or active pairing, with a reason."""
    _, actor = _visible_pairing(pairing_id)
    return _commands().end(pairing_id, body["reason"], actor, request_causation())


@blp.route("/cohorts/<cohort_id>/suggestions", methods=["GET"])
@require()
@blp.arguments(SuggestionsQuery, location="query")
@blp.response(200, SuggestionsOut)
def suggestions(query, cohort_id):
    """Mentee choice: the calling mentee's best mentors to ask (cohorts with `matching_style`
    mentee_choice or both, else 409 `mentee_choice_off`; 403 `not_a_mentee` for anyone not enrolled
    there as a mentee): every hard rule holds and a seat is left, ranked by the optimiser's score,
    each with its reasons, seats left and the mentor's card."""
    return _commands().suggestions(cohort_id, current_principal().subject, limit=query["limit"])


@blp.route("/cohorts/<cohort_id>/requests", methods=["POST"])
@require()
@blp.arguments(MentorRequestIn)
@blp.response(201, PairingOut)
def request_mentor(body, cohort_id):
    """Mentee choice: the calling mentee asks a mentor. The answer is a proposal by the mentee
    (already accepted by them) that the mentor accepts or declines; until then it holds a seat.
    409 `request_open` / `mentee_paired` (one open request or pairing per mentee), 422 naming
    `mentor_id` (`mentor_unknown`, `not_eligible` with the rules, `no_seats_left`)."""
    return _commands().request_mentor(cohort_id, current_principal().subject, body["mentor_id"], body.get("message"),
                                      request_causation())


@blp.route("/pairings/<pairing_id>/stay-in-touch", methods=["POST"])
@require()
@blp.arguments(StayInTouchIn)
@blp.response(200, PairingOut)
def stay_in_touch(body, pairing_id):
    """A party of a completed pairing chooses whether to stay in touch (403 for anyone else, admins
    too; 409 while the pairing is not completed). docs/api-pairings-completion.md"""
    _, actor = _visible_pairing(pairing_id)
    return _commands().stay_in_touch(pairing_id, body["stay_in_touch"], actor, request_causation())


@blp.route("/cohorts/<cohort_id>/stats", methods=["GET"])
@require()
@admin_of_cohort()
@blp.response(200, StatsOut)
def stats(cohort_id):
    """Enrolled, proposed, active, unmatched and answers still awaited (admin or programme manager),
    with the cohort itself."""
    views = _context().views
    cohort = views.cohorts.get(cohort_id) or _commands().cohort_document(cohort_id)  # 404 if it does not exist
    # The cohort's summary, kept by the views projection (one `_id` read; no scan of the cohort's
    # enrolments and pairings): application/projections.py.
    return {**stats_of(cohort_id, views.summaries.get(cohort_id)), "cohort": cohort}


class CircleMemberOut(Schema):
    mentee_id = fields.String()
    pairing_id = fields.String()
    status = fields.String(metadata={"description": "the member's pairing's status"})


class CircleOut(Schema):
    circle_id = fields.String()
    cohort_id = fields.String()
    mentor_id = fields.String()
    members = fields.List(fields.Nested(CircleMemberOut), metadata={"description": "by mentee id"})


class CirclePage(Schema):
    items = fields.List(fields.Nested(CircleOut))
    next = fields.String(allow_none=True)


@blp.route("/circles/<circle_id>", methods=["GET"])
@require()
@blp.response(200, CircleOut)
def get_circle(circle_id):
    """A mentoring circle: its mentor and members, each with their pairing and its status (the mentor,
    the circle's members, admins and the programme's managers; 404 for anyone else). docs/api-circles.md"""
    principal = current_principal()
    doc = _context().views.circles.get(circle_id)
    visible = None
    if doc is not None:
        is_admin = manages_cohort(principal, doc["cohort_id"])
        if is_admin and principal.subject not in (doc["mentor_id"], *(m["mentee_id"] for m in doc["members"])):
            require_admin_of_cohort(doc["cohort_id"])  # a manager reading it: audited in the programme
        visible = circle_out(doc, reader=principal.subject, reader_is_admin=is_admin)
    if visible is None:
        raise NotFound("circle_unknown", f"no circle {circle_id}")
    return visible


@blp.route("/cohorts/<cohort_id>/circles", methods=["GET"])
@require()
@admin_of_cohort()
@blp.arguments(ListQuery, location="query")
@blp.response(200, CirclePage)
def list_circles(query, cohort_id):
    """A circle cohort's circles in circle id order, each as `GET /v1/circles/{id}` gives it (admin or
    programme manager); a pair cohort has none."""
    views = _context().views
    if views.cohorts.get(cohort_id) is None:
        _commands().cohort(cohort_id)  # 404 if it does not exist at all
    docs, cursor = views.circles_page(cohort_id, after=query.get("cursor"), limit=query["limit"])
    return {"items": [circle_out(doc, reader="", reader_is_admin=True) for doc in docs], "next": cursor}


@participants_blp.route("/participants/<employee_id>")
@participants_blp.response(200, ParticipantSchema)
@require()
def get_participant(employee_id: str):
    """A person as the HRIS last described them: the whole record for the person, platform admins and
    the managers of a programme the person is enrolled in, a card (name, title, department, location,
    time zone, languages, skills) for a proposed or active partner or a co-member of a circle, 404 for anyone else and for a
    terminated person (the same answer as for nobody, so the directory cannot be probed). There is
    no list route: nobody can walk the directory."""
    principal = current_principal()
    context = _context()
    doc = context.participants.get(employee_id)
    record = directory.public(doc) if doc is not None else None
    someone_else = record is not None and not principal.is_admin and principal.subject != employee_id
    program_id = (managed_enrolment(context.scopes, context.views, principal.subject, employee_id)
                  if someone_else else None)
    if program_id is not None:
        audit.note_scope(program_id)  # a manager reading a person's record: audited, visible to the programme
    partners = someone_else and program_id is None and (
        context.partners.open_partners(principal.subject, employee_id)
        or co_members(context.views, principal.subject, employee_id))  # circles: a co-member's card
    visible = visible_profile(record, reader=principal.subject, reader_is_admin=principal.is_admin,
                              partners=partners, manager=program_id is not None)
    if visible is None:
        raise NotFound("employee_unknown", f"no employee {employee_id} is known from the HRIS")
    return visible
