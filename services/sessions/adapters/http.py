"""HTTP: meetings, goals, the pair's agreement and cohort engagement (contract sections 5 and 6).

Only the pairing's two parties and admins touch its meetings and goals (403 otherwise; 404 for
an unknown pairing or meeting). Private notes are readable and writable by the two parties only.
The agreement is the pair's own: only they revise and confirm it, and only they read each other's
expectations (admins see the terms and who confirmed).
"""
from __future__ import annotations

import json
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from shared.errors import Conflict, Forbidden, NotFound
from shared.events.catalog.sessions import (
    AGREEMENT_CHANNELS, AGREEMENT_CONFIDENTIALITY, AGREEMENT_MAX_CADENCE_DAYS, GOAL_STATUSES, MEETING_STATUSES,
    USER_CANCEL_REASONS,
)
from shared.http.app import request_causation
from shared.http.auth import current_principal, require
from shared.http.scopes import admin_of_cohort, manages_cohort
from services.sessions.adapters.ics import meeting_invitation, meeting_page_url
from services.sessions.adapters.mongo import to_doc
from services.sessions.application.commands import Outcome
from services.sessions.application.queries import roster_report
from services.sessions.domain.agreement import MAX_EXPECTATION, MAX_EXPECTATIONS
from services.sessions.domain.goals import MAX_GOALS, MAX_ITEM_TEXT, MAX_ITEMS
from services.sessions.domain.goals import MAX_TITLE as MAX_GOAL_TITLE

blp = Blueprint("sessions", __name__, url_prefix="/v1", description="Meetings, goals and engagement")


def _context():
    return current_app.extensions["sessions"]


def _iana(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("Not a known IANA time zone.") from None


# -- schemas ---------------------------------------------------------------------------------
# Every string and list in a request is bounded (issue 12, hostile input): a huge value is a 422
# naming its field, never stored. Ids are short tokens; free text up to MAX_TEXT characters.

MAX_ID = 128
MAX_TEXT = 4000
MAX_AGENDA = 2000
MAX_ZONE = 64
_an_id = validate.Length(min=1, max=MAX_ID)

class ScheduleMeetingIn(Schema):
    starts_at = fields.AwareDateTime(required=True, metadata={"description": "RFC 3339 with an offset"})
    duration_minutes = fields.Integer(required=True, strict=True)
    agenda = fields.String(validate=validate.Length(max=MAX_AGENDA), load_default=None, allow_none=True)
    timezone = fields.String(validate=[validate.Length(min=1, max=MAX_ZONE), _iana], load_default=None,
                             allow_none=True,
                             metadata={"description": "IANA zone for the invitation; default the organiser's"})


class RescheduleMeetingIn(Schema):
    starts_at = fields.AwareDateTime(required=True)
    duration_minutes = fields.Integer(strict=True, load_default=None, allow_none=True)


class CancelMeetingIn(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(USER_CANCEL_REASONS))


class CompleteMeetingIn(Schema):
    held_at = fields.AwareDateTime(load_default=None, allow_none=True)
    duration_minutes = fields.Integer(strict=True, load_default=None, allow_none=True)
    attendees = fields.List(fields.String(validate=_an_id), validate=validate.Length(max=2), load_default=None,
                            allow_none=True, metadata={"description": "the mentor and/or the mentee"})
    notes = fields.String(validate=validate.Length(max=MAX_TEXT), load_default=None, allow_none=True)


class DisputeIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT),
                           metadata={"description": "why the record is wrong; private to the pair and admins"})


class NoShowIn(Schema):
    absent_ids = fields.List(fields.String(validate=_an_id), required=True, validate=validate.Length(min=1, max=2))


class DisputeOut(Schema):
    by = fields.String()
    reason = fields.String(allow_none=True, metadata={"description": "in the meeting's own view; null in lists"})
    at = fields.String()


class MeetingOut(Schema):
    meeting_id = fields.String()
    pairing_id = fields.String()
    cohort_id = fields.String()
    mentor_id = fields.String()
    mentee_id = fields.String()
    organizer_id = fields.String()
    scheduled_by = fields.String(allow_none=True, metadata={"description": "who scheduled it (null: not recorded)"})
    starts_at = fields.String()
    ends_at = fields.String()
    duration_minutes = fields.Integer()
    timezone = fields.String()
    status = fields.String(metadata={"description": " | ".join(MEETING_STATUSES)})
    cancel_reason = fields.String(allow_none=True)
    held_at = fields.String(allow_none=True)
    held_minutes = fields.Integer(allow_none=True)
    attendees = fields.List(fields.String())
    absent_ids = fields.List(fields.String())
    recorded_by = fields.String(allow_none=True, metadata={"description": "who recorded it held or a no-show"})
    disputed = fields.Nested(DisputeOut, allow_none=True,
                             metadata={"description": "the other party contests the held / no-show record"})
    version = fields.Integer()
    agenda = fields.String(allow_none=True, metadata={"description": "shown to the two parties only"})
    series_id = fields.String(allow_none=True, metadata={"description": "the recurring series it belongs to "
                                                                        "(null: a single meeting)"})
    series_index = fields.Integer(allow_none=True, metadata={"description": "its place in the series, 0 first"})
    group_meeting_id = fields.String(allow_none=True, metadata={"description": "a member's copy of this circle's "
                                                                            "group meeting (null: the pair's own)"})
    circle_id = fields.String(allow_none=True, metadata={"description": "the circle of that group meeting"})


class MeetingListOut(Schema):
    items = fields.List(fields.Nested(MeetingOut))
    next = fields.String(allow_none=True)


class NotesOut(Schema):
    meeting_id = fields.String()
    notes = fields.String(allow_none=True)


class ListArgs(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, validate=validate.Length(max=MAX_ID))


class GoalItemIn(Schema):
    item_id = fields.String(load_default=None, allow_none=True, validate=_an_id,
                            metadata={"description": "leave out to add a new item"})
    text = fields.String(required=True, validate=validate.Length(min=1, max=MAX_ITEM_TEXT),
                         metadata={"description": "private to the pair and admins; never in events"})
    owner_id = fields.String(required=True, validate=_an_id, metadata={"description": "the mentor or the mentee"})
    due_on = fields.Date(load_default=None, allow_none=True)
    done = fields.Boolean(load_default=False)


def _items_field(what: str):
    return fields.List(fields.Nested(GoalItemIn), load_default=None, allow_none=True,
                       validate=validate.Length(max=MAX_ITEMS),
                       metadata={"description": f"the goal's {what}; left out: kept as they are; [] clears them"})


class GoalIn(Schema):
    goal_id = fields.String(load_default=None, allow_none=True, validate=_an_id)
    title = fields.String(required=True, validate=validate.Length(min=1, max=MAX_GOAL_TITLE))
    status = fields.String(required=True, validate=validate.OneOf(GOAL_STATUSES))
    target_date = fields.Date(load_default=None, allow_none=True)
    progress = fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(min=0, max=100))
    milestones = _items_field("milestones")
    action_items = _items_field("action items")


class GoalsIn(Schema):
    expected_revision = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    goals = fields.List(fields.Nested(GoalIn), required=True, validate=validate.Length(max=MAX_GOALS))


class GoalItemOut(Schema):
    item_id = fields.String()
    text = fields.String(allow_none=True, metadata={"description": "null once forgotten (retention)"})
    owner_id = fields.String()
    due_on = fields.String(allow_none=True)
    done = fields.Boolean()


class GoalOut(Schema):
    goal_id = fields.String()
    title = fields.String()
    status = fields.String()
    target_date = fields.String(allow_none=True)
    progress = fields.Integer()
    milestones = fields.List(fields.Nested(GoalItemOut))
    action_items = fields.List(fields.Nested(GoalItemOut))


class GoalsOut(Schema):
    pairing_id = fields.String()
    revision = fields.Integer()
    revised_by = fields.String(allow_none=True)
    revised_at = fields.String(allow_none=True)
    goals = fields.List(fields.Nested(GoalOut))


class RevisionOut(Schema):
    revision = fields.Integer()
    revised_by = fields.String()
    revised_at = fields.String()
    goals = fields.List(fields.Nested(GoalOut))


class RevisionListOut(Schema):
    items = fields.List(fields.Nested(RevisionOut))
    next = fields.String(allow_none=True)


class AgreementIn(Schema):
    expected_revision = fields.Integer(required=True, strict=True, validate=validate.Range(min=0),
                                       metadata={"description": "the revision you edited (0: none yet)"})
    cadence_days = fields.Integer(required=True, strict=True,
                                  validate=validate.Range(min=1, max=AGREEMENT_MAX_CADENCE_DAYS))
    channel = fields.String(required=True, validate=validate.OneOf(AGREEMENT_CHANNELS))
    confidentiality = fields.String(required=True, validate=validate.OneOf(AGREEMENT_CONFIDENTIALITY))
    expectations = fields.List(fields.String(validate=validate.Length(min=1, max=MAX_EXPECTATION)),
                               load_default=None, allow_none=True, validate=validate.Length(max=MAX_EXPECTATIONS),
                               metadata={"description": "the caller's own expectations (replaces theirs only); "
                                                        "left out: kept as they are"})


class ConfirmAgreementIn(Schema):
    revision = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1),
                              metadata={"description": "the revision you read; another one gets 409"})


class AgreementTermsOut(Schema):
    revision = fields.Integer()
    cadence_days = fields.Integer()
    channel = fields.String()
    confidentiality = fields.String()
    confirmed_at = fields.String()


class AgreementOut(Schema):
    pairing_id = fields.String()
    revision = fields.Integer(metadata={"description": "0 before the first"})
    cadence_days = fields.Integer(allow_none=True)
    channel = fields.String(allow_none=True)
    confidentiality = fields.String(allow_none=True)
    expectations = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), allow_none=True,
                               metadata={"description": "party id -> their own words; for the pair only "
                                                        "(null for admins)"})
    revised_by = fields.String(allow_none=True)
    revised_at = fields.String(allow_none=True)
    confirmed_by = fields.List(fields.String(), metadata={"description": "who confirmed this revision"})
    confirmed = fields.Boolean(metadata={"description": "both confirmed this revision"})
    in_force = fields.Nested(AgreementTermsOut, allow_none=True,
                             metadata={"description": "the last revision both confirmed (drives the at-risk clock)"})


class EngagementItemOut(Schema):
    pairing_id = fields.String()
    mentor_id = fields.String()
    mentee_id = fields.String()
    status = fields.String(metadata={"description": "on_track | needs_check_in | at_risk | too_early"})
    last_meeting_at = fields.String(allow_none=True)
    meetings_held = fields.Integer()
    meetings_per_week = fields.Float()
    mentoring_hours = fields.Float()
    cadence_days = fields.Integer(metadata={"description": "this pair's: agreed, else the cohort's"})
    cadence_agreed = fields.Boolean()


class EngagementOut(Schema):
    cohort_id = fields.String()
    cadence_days = fields.Integer()
    as_of = fields.String()
    summary = fields.Dict()
    items = fields.List(fields.Nested(EngagementItemOut))
    next = fields.String(allow_none=True)


# -- authorization ------------------------------------------------------------------------------

def _pairing_for_party(pairing_id: str):
    """The pairing if it exists (404) and the caller is one of its parties, an admin or a manager of
    its programme (else 403)."""
    pairing = _context().pairings.get(pairing_id)
    if pairing is None:
        raise NotFound("pairing_not_found", f"no pairing {pairing_id} is known")
    principal = current_principal()
    if not (principal.subject in pairing.parties or manages_cohort(principal, pairing.cohort_id)):
        raise Forbidden("not_a_party", "only the pairing's mentor, its mentee, admins and its programme's "
                                       "managers may do this")
    return pairing


def _meeting_for_party(meeting_id: str):
    meeting = _context().meetings.load(meeting_id)  # NotFound -> 404
    principal = current_principal()
    if not (principal.subject in meeting.parties or manages_cohort(principal, meeting.cohort_id)):
        raise Forbidden("not_a_party", "only the pair's mentor, its mentee, admins and its programme's "
                                       "managers may do this")
    return meeting


def _meeting_out(meeting, texts: dict | None = None) -> dict:
    """The meeting as a caller sees it; `texts`: its private text if already known (else read)."""
    out = to_doc(meeting)
    is_party = current_principal().subject in meeting.parties
    if texts is None:
        texts = _context().meetings.texts(meeting.meeting_id) if is_party or meeting.disputed_by else {}
    if is_party:
        out["agenda"] = texts.get("agenda")
    if out["disputed"]:  # the reason: for the pair and the admins who resolve it
        out["disputed"] = dict(out["disputed"], reason=texts.get("dispute_reason"))
    return out


def _done(outcome: Outcome) -> dict:
    """The answer to a meeting command, once the meetings view includes it (read-your-writes:
    the caller's next list shows the change). The answer itself comes from the stream."""
    context = _context()
    context.projector.wait_for(outcome.position, timeout_s=context.settings.read_your_writes_timeout_s)
    return _meeting_out(outcome.meeting, outcome.texts)


# -- meetings ----------------------------------------------------------------------------------

@blp.route("/pairings/<pairing_id>/meetings")
class PairingMeetings(MethodView):
    @require()
    @blp.arguments(ScheduleMeetingIn)
    @blp.response(201, MeetingOut)
    def post(self, body, pairing_id):
        """Schedule a meeting (a party or an admin; the pairing must be active)."""
        pairing = _pairing_for_party(pairing_id)
        principal = current_principal()
        organizer = principal.subject if principal.subject in pairing.parties else pairing.mentor_id
        zone = body["timezone"] or ((_context().participants.get(organizer) or {}).get("timezone")) or "UTC"
        return _done(_context().meetings.schedule(
            pairing, actor_id=principal.subject, organizer_id=organizer, starts_at=body["starts_at"],
            duration_minutes=body["duration_minutes"], timezone=zone, agenda=body["agenda"],
            causation=request_causation()))

    @require()
    @blp.arguments(ListArgs, location="query")
    @blp.response(200, MeetingListOut)
    def get(self, args, pairing_id):
        """The pairing's meetings, earliest first."""
        _pairing_for_party(pairing_id)
        docs = _context().meetings_view.for_pairing(pairing_id)
        start = int(args["cursor"]) if args["cursor"] and args["cursor"].isdigit() else 0
        page = docs[start:start + args["limit"]]
        following = start + args["limit"]
        return {"items": page, "next": str(following) if following < len(docs) else None}


@blp.route("/meetings/<meeting_id>")
class MeetingResource(MethodView):
    @require()
    @blp.response(200, MeetingOut)
    def get(self, meeting_id):
        """One meeting."""
        return _meeting_out(_meeting_for_party(meeting_id))


@blp.route("/meetings/<meeting_id>.ics")
@require()
@blp.response(200, content_type="text/calendar")
def meeting_ics(meeting_id):
    """The meeting as an RFC 5545 invitation in the organiser's time zone: the agenda (to the pair) and
    a link to the meeting's page in the web app (NOTIFICATIONS_APP_URL, where every link opens)."""
    meeting = _meeting_for_party(meeting_id)
    participants = {pid: _context().participants.get(pid) for pid in {meeting.organizer_id, *meeting.parties}}
    agenda = (_context().meetings.texts(meeting_id).get("agenda")
              if current_principal().subject in meeting.parties else None)  # private to the pair
    body = meeting_invitation(meeting, participants, stamp=_context().clock.now(), description=agenda,
                              url=meeting_page_url(_context().settings.notifications_app_url, meeting_id))
    return Response(body, mimetype="text/calendar",
                    headers={"Content-Type": "text/calendar; charset=utf-8",
                             "Content-Disposition": 'attachment; filename="meeting.ics"'})


@blp.route("/meetings/<meeting_id>/reschedule", methods=["POST"])
@require()
@blp.arguments(RescheduleMeetingIn)
@blp.response(200, MeetingOut)
def reschedule_meeting(body, meeting_id):
    """Move a scheduled meeting (still in the future, 15-240 minutes). A member's copy of a circle's
    group meeting moves with the group meeting only (409 here)."""
    meeting = _meeting_for_party(meeting_id)
    if meeting.group_meeting_id:
        raise Conflict("group_meeting_copy", "this is a circle's meeting: its mentor moves it for everyone",
                       circle_id=meeting.circle_id, group_meeting_id=meeting.group_meeting_id)
    return _done(_context().meetings.reschedule(
        meeting, by=current_principal().subject, starts_at=body["starts_at"],
        duration_minutes=body["duration_minutes"], causation=request_causation()))


@blp.route("/meetings/<meeting_id>/cancel", methods=["POST"])
@require()
@blp.arguments(CancelMeetingIn)
@blp.response(200, MeetingOut)
def cancel_meeting(body, meeting_id):
    """Cancel a scheduled meeting with a reason code (cancelling twice changes nothing)."""
    meeting = _meeting_for_party(meeting_id)
    return _done(_context().meetings.cancel(
        meeting, by=current_principal().subject, reason=body["reason"], causation=request_causation()))


@blp.route("/meetings/<meeting_id>/complete", methods=["POST"])
@require()
@blp.arguments(CompleteMeetingIn)
@blp.response(200, MeetingOut)
def complete_meeting(body, meeting_id):
    """Record that the meeting was held (emits MeetingHeld); notes are private to the two parties."""
    meeting = _meeting_for_party(meeting_id)
    principal = current_principal()
    if body["notes"] and principal.subject not in meeting.parties:
        raise Forbidden("notes_by_parties_only", "only the mentor and the mentee write the meeting's private notes")
    return _done(_context().meetings.complete(
        meeting, by=principal.subject, held_at=body["held_at"], duration_minutes=body["duration_minutes"],
        attendees=body["attendees"], notes=body["notes"], causation=request_causation()))


@blp.route("/meetings/<meeting_id>/no-show", methods=["POST"])
@require()
@blp.arguments(NoShowIn)
@blp.response(200, MeetingOut)
def record_no_show(body, meeting_id):
    """Record that one or both of the pair did not come."""
    meeting = _meeting_for_party(meeting_id)
    return _done(_context().meetings.no_show(
        meeting, by=current_principal().subject, absent_ids=body["absent_ids"], causation=request_causation()))


@blp.route("/meetings/<meeting_id>/dispute", methods=["POST"])
@require()
@blp.arguments(DisputeIn)
@blp.response(200, MeetingOut)
def dispute_meeting(body, meeting_id):
    """Contest the other party's held or no-show record (emits MeetingDisputed). The pair only:
    403 for anyone else; 409 if there is no such record, it is disputed already, or the caller
    recorded it. A disputed held meeting no longer counts as held for engagement."""
    meeting = _context().meetings.load(meeting_id)  # NotFound -> 404
    return _done(_context().meetings.dispute(
        meeting, by=current_principal().subject, reason=body["reason"], causation=request_causation()))


@blp.route("/meetings/<meeting_id>/notes")
@require()
@blp.response(200, NotesOut)
def meeting_notes(meeting_id):
    """The meeting's private notes: the mentor and the mentee only (not even admins)."""
    meeting = _meeting_for_party(meeting_id)
    if current_principal().subject not in meeting.parties:
        raise Forbidden("notes_by_parties_only", "private notes are readable by the mentor and the mentee only")
    return {"meeting_id": meeting_id, "notes": _context().meetings.texts(meeting_id).get("notes")}


# -- goals -------------------------------------------------------------------------------------

def _goals_out(pairing_id: str, state) -> dict:
    return {"pairing_id": pairing_id, "revision": state.revision, "revised_by": state.revised_by,
            "revised_at": state.revised_at, "goals": state.goals}


@blp.route("/pairings/<pairing_id>/goals")
class PairingGoals(MethodView):
    @require()
    @blp.response(200, GoalsOut)
    def get(self, pairing_id):
        """The current goal list and its revision (0 before the first)."""
        _pairing_for_party(pairing_id)
        return _goals_out(pairing_id, _context().goals.current(pairing_id))

    @require()
    @blp.arguments(GoalsIn)
    @blp.response(200, GoalsOut)
    def put(self, body, pairing_id):
        """Replace the goal list; a stale `expected_revision` gets 409 with `current_revision`."""
        pairing = _pairing_for_party(pairing_id)
        state = _context().goals.revise(
            pairing, expected_revision=body["expected_revision"], goals=body["goals"],
            by=current_principal().subject, causation=request_causation())
        return _goals_out(pairing_id, state)


@blp.route("/pairings/<pairing_id>/goals/revisions")
@require()
@blp.arguments(ListArgs, location="query")
@blp.response(200, RevisionListOut)
def goal_revisions(args, pairing_id):
    """Every revision of the goal list, oldest first."""
    _pairing_for_party(pairing_id)
    history = _context().goals.current(pairing_id).history
    start = int(args["cursor"]) if args["cursor"] and args["cursor"].isdigit() else 0
    following = start + args["limit"]
    return {"items": history[start:following], "next": str(following) if following < len(history) else None}


@blp.route("/pairings/<pairing_id>/goals/<goal_id>/achieve", methods=["POST"])
@require()
@blp.response(200, GoalsOut)
def achieve_goal(pairing_id, goal_id):
    """Mark one goal achieved (a new revision with it `achieved`, progress 100; emits GoalAchieved).
    Achieving an achieved goal changes nothing; 404 for a goal the pairing does not have."""
    pairing = _pairing_for_party(pairing_id)
    state = _context().goals.achieve(pairing, goal_id=goal_id, by=current_principal().subject,
                                     causation=request_causation())
    return _goals_out(pairing_id, state)


# -- agreement ---------------------------------------------------------------------------------

def _agreement_out(pairing, agreement) -> dict:
    terms = agreement.terms
    in_force = None
    if agreement.confirmed_revision:
        in_force = dict(agreement.confirmed_terms, revision=agreement.confirmed_revision,
                        confirmed_at=agreement.confirmed_at)
    is_party = current_principal().subject in pairing.parties
    return {"pairing_id": pairing.pairing_id, "revision": agreement.revision,
            "cadence_days": terms.get("cadence_days"), "channel": terms.get("channel"),
            "confidentiality": terms.get("confidentiality"),
            "expectations": agreement.expectations if is_party else None,
            "revised_by": agreement.revised_by, "revised_at": agreement.revised_at,
            "confirmed_by": agreement.confirmed_by, "confirmed": agreement.confirmed, "in_force": in_force}


@blp.route("/pairings/<pairing_id>/agreement")
class PairingAgreement(MethodView):
    @require()
    @blp.response(200, AgreementOut)
    def get(self, pairing_id):
        """The pair's agreement: the current revision, who confirmed it, and the terms in force."""
        pairing = _pairing_for_party(pairing_id)
        return _agreement_out(pairing, _context().agreements.current(pairing_id))

    @require()
    @blp.arguments(AgreementIn)
    @blp.response(200, AgreementOut)
    def put(self, body, pairing_id):
        """Propose a revision (the pair only; emits AgreementRevised). Both must confirm it again; a stale
        `expected_revision` gets 409 with `current_revision`; an unchanged agreement stays as it is."""
        pairing = _pairing_for_party(pairing_id)
        outcome = _context().agreements.revise(
            pairing, expected_revision=body["expected_revision"], by=current_principal().subject,
            cadence_days=body["cadence_days"], channel=body["channel"], confidentiality=body["confidentiality"],
            expectations=body["expectations"], causation=request_causation())
        return _agreement_out(pairing, outcome.agreement)


@blp.route("/pairings/<pairing_id>/agreement/confirm", methods=["POST"])
@require()
@blp.arguments(ConfirmAgreementIn)
@blp.response(200, AgreementOut)
def confirm_agreement(body, pairing_id):
    """Confirm the current revision (the pair only; emits AgreementConfirmedByParty, and AgreementConfirmed
    once both did: its cadence then drives the pair's at-risk clock)."""
    pairing = _pairing_for_party(pairing_id)
    context = _context()
    outcome = context.agreements.confirm(pairing, by=current_principal().subject, revision=body["revision"],
                                         causation=request_causation())
    # the engagement report reads the agreed cadence from its view: answer once it has this commit
    context.projector.wait_for(outcome.position, timeout_s=context.settings.read_your_writes_timeout_s)
    return _agreement_out(pairing, outcome.agreement)


# -- engagement --------------------------------------------------------------------------------

@blp.route("/cohorts/<cohort_id>/engagement")
@require()
@admin_of_cohort()
@blp.response(200, EngagementOut)
def cohort_engagement(cohort_id):
    """Each active pair as on track, needs check-in, at risk or too early; meetings per week; hours."""
    context = _context()
    report = roster_report(context.pairings, context.roster_pairs, context.roster_meetings, cohort_id,
                           context.clock.now())
    if report is None:
        raise NotFound("cohort_not_found", f"no cohort {cohort_id} is known")
    # Built here from the roster, already in EngagementOut's shape (the schema documents it): a JSON
    # dump instead of marshmallow's per-field dump of every pair, the larger part of this call's CPU.
    return current_app.response_class(json.dumps(report, separators=(",", ":")), mimetype="application/json")
