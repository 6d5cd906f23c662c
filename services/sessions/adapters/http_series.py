"""HTTP: recurring meetings (issue 15, docs/api-sessions-availability.md). A series is scheduled,
moved or cancelled as a whole here; one occurrence is an ordinary meeting (`/v1/meetings/{id}`
routes). Who may: as for the pairing's meetings (the pair, admins, the programme's managers)."""
from __future__ import annotations

from flask import Response, current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from shared.clock import rfc3339
from shared.errors import Forbidden
from shared.events.catalog.sessions import USER_CANCEL_REASONS
from shared.http.app import request_causation
from shared.http.auth import current_principal, require
from shared.http.scopes import manages_cohort
from services.sessions.adapters.http import MAX_AGENDA, MeetingOut, ScheduleMeetingIn, _pairing_for_party
from services.sessions.adapters.ics import meeting_page_url, series_invitation
from services.sessions.adapters.mongo import to_doc
from services.sessions.domain.series import MAX_COUNT, MAX_INTERVAL, MIN_COUNT, MIN_INTERVAL

blp = Blueprint("sessions-series", __name__, url_prefix="/v1", description="Recurring meetings")


def _context():
    return current_app.extensions["sessions"]


class ScheduleSeriesIn(ScheduleMeetingIn):
    interval_weeks = fields.Integer(load_default=1, strict=True,
                                    validate=validate.Range(min=MIN_INTERVAL, max=MAX_INTERVAL))
    count = fields.Integer(required=True, strict=True, validate=validate.Range(min=MIN_COUNT, max=MAX_COUNT),
                           metadata={"description": "how many meetings"})
    agenda = fields.String(validate=validate.Length(max=MAX_AGENDA), load_default=None, allow_none=True,
                           metadata={"description": "every occurrence's; only the two of you see it"})


class RescheduleSeriesIn(Schema):
    starts_at = fields.AwareDateTime(required=True, metadata={"description": "the next occurrence's new start; "
                                                                            "later ones move by the same local shift"})
    duration_minutes = fields.Integer(strict=True, load_default=None, allow_none=True)


class CancelSeriesIn(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(USER_CANCEL_REASONS))


class SeriesOut(Schema):
    series_id = fields.String()
    pairing_id = fields.String()
    cohort_id = fields.String()
    mentor_id = fields.String()
    mentee_id = fields.String()
    organizer_id = fields.String()
    starts_at = fields.String(metadata={"description": "the first occurrence as scheduled"})
    duration_minutes = fields.Integer()
    timezone = fields.String()
    interval_weeks = fields.Integer()
    count = fields.Integer()
    occurrences = fields.List(fields.Nested(MeetingOut))


def _series_for_party(series_id: str):
    series = _context().series.load(series_id)  # NotFound -> 404
    principal = current_principal()
    if not (principal.subject in series.parties or manages_cohort(principal, series.cohort_id)):
        raise Forbidden("not_a_party", "only the pair's mentor, its mentee, admins and its programme's "
                                       "managers may do this")
    return series


def _series_out(series, position: int = 0) -> dict:
    context = _context()
    if position:
        context.projector.wait_for(position, timeout_s=context.settings.read_your_writes_timeout_s)
    out = {name: getattr(series, name) for name in ("series_id", "pairing_id", "cohort_id", "mentor_id", "mentee_id",
                                                    "organizer_id", "duration_minutes", "timezone", "interval_weeks",
                                                    "count")}
    out["starts_at"] = rfc3339(series.starts_at)
    out["occurrences"] = [to_doc(meeting) for meeting in context.series.occurrences(series)]
    return out


@blp.route("/pairings/<pairing_id>/series", methods=["POST"])
@require()
@blp.arguments(ScheduleSeriesIn)
@blp.response(201, SeriesOut)
def schedule_series(body, pairing_id):
    """Schedule `count` meetings every `interval_weeks` weeks at the first one's local time (emits
    MeetingSeriesScheduled and each occurrence's MeetingScheduled); a retried request gets the same series."""
    pairing = _pairing_for_party(pairing_id)
    principal = current_principal()
    organizer = principal.subject if principal.subject in pairing.parties else pairing.mentor_id
    zone = body["timezone"] or ((_context().participants.get(organizer) or {}).get("timezone")) or "UTC"
    series, position = _context().series.schedule(
        pairing, actor_id=principal.subject, organizer_id=organizer, starts_at=body["starts_at"],
        duration_minutes=body["duration_minutes"], timezone=zone, interval_weeks=body["interval_weeks"],
        count=body["count"], agenda=body["agenda"], causation=request_causation())
    return _series_out(series, position)


@blp.route("/series/<series_id>", methods=["GET"])
@require()
@blp.response(200, SeriesOut)
def get_series(series_id):
    """The series and each occurrence as it now is."""
    return _series_out(_series_for_party(series_id))


@blp.route("/series/<series_id>.ics", methods=["GET"])
@require()
@blp.response(200, content_type="text/calendar")
def series_ics(series_id):
    """The series as one recurring event (RRULE), cancelled occurrences left out (EXDATE), moved ones
    overridden (RECURRENCE-ID); the agenda for the pair, the link to the first meeting's page."""
    series = _series_for_party(series_id)
    context = _context()
    occurrences = context.series.occurrences(series)
    participants = {pid: context.participants.get(pid) for pid in {series.organizer_id, *series.parties}}
    agenda = (context.meetings.texts(series.meeting_ids[0]).get("agenda")
              if current_principal().subject in series.parties else None)
    body = series_invitation(series, occurrences, participants, stamp=context.clock.now(), description=agenda,
                             url=meeting_page_url(context.settings.notifications_app_url, series.meeting_ids[0]))
    return Response(body, mimetype="text/calendar",
                    headers={"Content-Type": "text/calendar; charset=utf-8",
                             "Content-Disposition": 'attachment; filename="meetings.ics"'})


@blp.route("/series/<series_id>/reschedule", methods=["POST"])
@require()
@blp.arguments(RescheduleSeriesIn)
@blp.response(200, SeriesOut)
def reschedule_series(body, series_id):
    """Move every occurrence still to come (one occurrence: POST /v1/meetings/{id}/reschedule)."""
    series = _series_for_party(series_id)
    outcomes = _context().series.reschedule(series, by=current_principal().subject, starts_at=body["starts_at"],
                                            duration_minutes=body["duration_minutes"], causation=request_causation())
    return _series_out(series, max([0, *(o.position for o in outcomes)]))


@blp.route("/series/<series_id>/cancel", methods=["POST"])
@require()
@blp.arguments(CancelSeriesIn)
@blp.response(200, SeriesOut)
def cancel_series(body, series_id):
    """Cancel every occurrence still to come (one occurrence: POST /v1/meetings/{id}/cancel)."""
    series = _series_for_party(series_id)
    outcomes = _context().series.cancel(series, by=current_principal().subject, reason=body["reason"],
                                        causation=request_causation())
    return _series_out(series, max([0, *(o.position for o in outcomes)]))
