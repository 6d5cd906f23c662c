"""HTTP: a circle's group meetings (issue 15, docs/api-sessions-circles.md).

Who may: the circle's mentor, platform admins and its programme's managers schedule, move, cancel and
record them; its members (mentees of its pairings) read them. Anyone else gets 404, as matching's
`GET /v1/circles/{id}` answers (a circle's existence is not shown to outsiders); a member asking to
change one gets 403. Each member's copy is an ordinary meeting (`/v1/meetings/{id}`), moved with the
group meeting only: a copy alone cannot be moved (409 on its reschedule route).
"""
from __future__ import annotations

from flask import Response, current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from shared.clock import rfc3339
from shared.errors import Forbidden, NotFound
from shared.events.catalog.sessions import USER_CANCEL_REASONS
from shared.http.app import request_causation
from shared.http.auth import current_principal, require
from shared.http.scopes import manages_cohort
from services.sessions.adapters.http import MAX_ID, ScheduleMeetingIn
from services.sessions.adapters.ics import circle_page_url, group_invitation
from services.sessions.application.circles import GroupView
from services.sessions.domain.circles import ATTENDANCE, current_slot, ends_at

blp = Blueprint("sessions-circles", __name__, url_prefix="/v1", description="Circles' group meetings")
MAX_MEMBERS = 50  # attendance entries in one request (a circle has 3-8 members)


def _context():
    return current_app.extensions["sessions"]


class RescheduleGroupIn(Schema):
    starts_at = fields.AwareDateTime(required=True)
    duration_minutes = fields.Integer(strict=True, load_default=None, allow_none=True)


class CancelGroupIn(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(USER_CANCEL_REASONS))


class HeldGroupIn(Schema):
    attendance = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=MAX_ID)),
                             values=fields.String(validate=validate.OneOf(ATTENDANCE)), required=True,
                             validate=validate.Length(min=1, max=MAX_MEMBERS),
                             metadata={"description": "mentee id -> present | absent, for every member invited"})
    held_at = fields.AwareDateTime(load_default=None, allow_none=True)
    duration_minutes = fields.Integer(strict=True, load_default=None, allow_none=True)


class GroupMemberOut(Schema):
    mentee_id = fields.String()
    pairing_id = fields.String()
    meeting_id = fields.String(metadata={"description": "the member's copy: an ordinary meeting of the pair"})
    status = fields.String(metadata={"description": "the copy's: scheduled | cancelled | held | no_show"})
    attended = fields.Boolean(allow_none=True, metadata={"description": "null until recorded"})


class GroupMeetingOut(Schema):
    group_meeting_id = fields.String()
    circle_id = fields.String()
    cohort_id = fields.String()
    mentor_id = fields.String()
    organizer_id = fields.String()
    scheduled_by = fields.String(allow_none=True)
    starts_at = fields.String()
    ends_at = fields.String()
    duration_minutes = fields.Integer()
    timezone = fields.String()
    sequence = fields.Integer(metadata={"description": "moves so far (iCalendar SEQUENCE)"})
    status = fields.String(metadata={"description": "scheduled | cancelled | held"})
    agenda = fields.String(allow_none=True, metadata={"description": "for the mentor and the members only"})
    members = fields.List(fields.Nested(GroupMemberOut))


class GroupMeetingListOut(Schema):
    items = fields.List(fields.Nested(GroupMeetingOut))


# -- authorization ------------------------------------------------------------------------------

def _circle(circle_id: str, *, manage: bool = False):
    """The circle if the caller may read it (its mentor, a member, an admin, a manager of its
    programme), else 404; `manage`: a member gets 403 (only the mentor and admins change meetings)."""
    circle = _context().circles_view.get(circle_id)
    principal = current_principal()
    if circle is None or not (circle.includes(principal.subject) or manages_cohort(principal, circle.cohort_id)):
        raise NotFound("circle_not_found", f"no circle {circle_id} is known")
    if manage and not (principal.subject == circle.mentor_id or manages_cohort(principal, circle.cohort_id)):
        raise Forbidden("not_the_mentor", "only the circle's mentor, admins and its programme's managers "
                                          "schedule or change its meetings")
    return circle


def _group_out(view: GroupView, circle) -> dict:
    group = view.group
    starts_at, minutes, sequence = current_slot(group, view.copies)
    copies = {m.meeting_id: m for m in view.copies}
    members = []
    for member in group.members:
        copy = copies.get(member["meeting_id"])
        status = copy.status if copy else "scheduled"
        attended = {"held": True, "no_show": False}.get(status)
        members.append(dict(member, status=status, attended=attended))
    own = circle.includes(current_principal().subject)
    return {"group_meeting_id": group.group_meeting_id, "circle_id": group.circle_id, "cohort_id": group.cohort_id,
            "mentor_id": group.mentor_id, "organizer_id": group.organizer_id, "scheduled_by": group.scheduled_by,
            "starts_at": rfc3339(starts_at), "ends_at": rfc3339(ends_at(starts_at, minutes)),
            "duration_minutes": minutes, "timezone": group.timezone, "sequence": sequence, "status": view.status,
            "agenda": group.agenda if own else None, "members": members}


def _answer(circle, group_meeting_id: str, position: int) -> dict:
    """The group meeting once the meetings view has the commits (the caller's next list shows them)."""
    context = _context()
    context.projector.wait_for(position, timeout_s=context.settings.read_your_writes_timeout_s)
    group = context.circles.group(circle.circle_id, group_meeting_id)
    return _group_out(context.circles.view(group, from_streams=True), circle)


# -- routes --------------------------------------------------------------------------------------

@blp.route("/circles/<circle_id>/meetings", methods=["POST"])
@require()
@blp.arguments(ScheduleMeetingIn)
@blp.response(201, GroupMeetingOut)
def schedule_group_meeting(body, circle_id):
    """Schedule a meeting of the circle (its mentor, an admin or a manager): one copy per member pairing
    active now, each an ordinary meeting of the pair (emits GroupMeetingScheduled and each copy's
    MeetingScheduled); a retried request gets the same meeting."""
    circle = _circle(circle_id, manage=True)
    context = _context()
    zone = body["timezone"] or ((context.participants.get(circle.mentor_id) or {}).get("timezone")) or "UTC"
    group, position = context.circles.schedule(
        circle, actor_id=current_principal().subject, organizer_id=circle.mentor_id, starts_at=body["starts_at"],
        duration_minutes=body["duration_minutes"], timezone=zone, agenda=body["agenda"],
        causation=request_causation())
    return _answer(circle, group.group_meeting_id, position)


@blp.route("/circles/<circle_id>/meetings", methods=["GET"])
@require()
@blp.response(200, GroupMeetingListOut)
def list_group_meetings(circle_id):
    """The circle's group meetings, earliest first (the mentor, members, admins, managers)."""
    circle = _circle(circle_id)
    return {"items": [_group_out(view, circle) for view in _context().circles.of_circle(circle_id)]}


@blp.route("/circles/<circle_id>/meetings/<group_meeting_id>", methods=["GET"])
@require()
@blp.response(200, GroupMeetingOut)
def get_group_meeting(circle_id, group_meeting_id):
    """One group meeting with each member's copy."""
    circle = _circle(circle_id)
    context = _context()
    return _group_out(context.circles.view(context.circles.group(circle_id, group_meeting_id), from_streams=True),
                      circle)


@blp.route("/circles/<circle_id>/meetings/<group_meeting_id>.ics", methods=["GET"])
@require()
@blp.response(200, content_type="text/calendar")
def group_meeting_ics(circle_id, group_meeting_id):
    """The group meeting as one VEVENT whose UID every member's copy shares; the agenda, a link to the
    circle's page in the web app."""
    circle = _circle(circle_id)
    context = _context()
    group = context.circles.group(circle_id, group_meeting_id)
    view = context.circles.view(group, from_streams=True)
    people = {group.organizer_id, group.mentor_id, *(m.mentee_id for m in view.copies)}
    participants = {pid: context.participants.get(pid) for pid in people}
    agenda = group.agenda if circle.includes(current_principal().subject) else None
    body = group_invitation(group, view.copies, participants, stamp=context.clock.now(), description=agenda,
                            url=circle_page_url(context.settings.notifications_app_url, circle_id))
    return Response(body, mimetype="text/calendar",
                    headers={"Content-Type": "text/calendar; charset=utf-8",
                             "Content-Disposition": 'attachment; filename="circle-meeting.ics"'})


@blp.route("/circles/<circle_id>/meetings/<group_meeting_id>/reschedule", methods=["POST"])
@require()
@blp.arguments(RescheduleGroupIn)
@blp.response(200, GroupMeetingOut)
def reschedule_group_meeting(body, circle_id, group_meeting_id):
    """Move every member's copy still scheduled (in the future, 15-240 minutes)."""
    circle = _circle(circle_id, manage=True)
    context = _context()
    group = context.circles.group(circle_id, group_meeting_id)
    position = context.circles.reschedule(group, by=current_principal().subject, starts_at=body["starts_at"],
                                          duration_minutes=body["duration_minutes"], causation=request_causation())
    return _answer(circle, group_meeting_id, position)


@blp.route("/circles/<circle_id>/meetings/<group_meeting_id>/cancel", methods=["POST"])
@require()
@blp.arguments(CancelGroupIn)
@blp.response(200, GroupMeetingOut)
def cancel_group_meeting(body, circle_id, group_meeting_id):
    """Cancel every member's copy still scheduled (twice changes nothing; a held one: 409)."""
    circle = _circle(circle_id, manage=True)
    context = _context()
    group = context.circles.group(circle_id, group_meeting_id)
    position = context.circles.cancel(group, by=current_principal().subject, reason=body["reason"],
                                      causation=request_causation())
    return _answer(circle, group_meeting_id, position)


@blp.route("/circles/<circle_id>/meetings/<group_meeting_id>/held", methods=["POST"])
@require()
@blp.arguments(HeldGroupIn)
@blp.response(200, GroupMeetingOut)
def mark_group_meeting_held(body, circle_id, group_meeting_id):
    """Record the meeting held with who came: a member present gets MeetingHeld on their copy (it
    counts as their pair's held meeting), one absent MeetingNoShow (it does not)."""
    circle = _circle(circle_id, manage=True)
    context = _context()
    group = context.circles.group(circle_id, group_meeting_id)
    position = context.circles.mark_held(group, by=current_principal().subject, attendance=body["attendance"],
                                         held_at=body["held_at"], duration_minutes=body["duration_minutes"],
                                         causation=request_causation())
    return _answer(circle, group_meeting_id, position)
