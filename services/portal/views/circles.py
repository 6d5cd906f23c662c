"""My circle (issue 15): a mentoring circle's mentor and members (matching's `GET /v1/circles/{id}`,
each shown with the participants card the pairing page uses) and its group meetings (sessions'
`/v1/circles/{id}/meetings`, docs/api-sessions-circles.md): the mentor schedules, moves, cancels and
records them held with who came; everyone adds them to their calendar.

The services decide who may do what (a member's form post gets the API's 403 shown); the page offers
the forms to the circle's mentor and to admins only.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, Response, redirect, render_template, request, url_for

from services.portal.backend import ApiError
from services.portal.oidc import login_required
from services.portal.views.common import (
    api, done, is_admin, local_time, me, ok, parallel, profile, report, to_rfc3339, zone_of,
)
from shared.events.catalog.sessions import USER_CANCEL_REASONS

bp = Blueprint("circles", __name__)
GROUP_MINUTES = 60  # the scheduling form's default length


def _page(circle_id: str):
    return url_for(".circle", circle_id=circle_id)


@bp.get("/circles/<circle_id>")
@login_required
def circle(circle_id):
    client = api()
    found = parallel(circle=lambda: client.get("matching", f"/v1/circles/{circle_id}"),
                     meetings=lambda: client.get("sessions", f"/v1/circles/{circle_id}/meetings"),
                     me=lambda: profile(me()))
    if isinstance(found["circle"], ApiError):
        raise found["circle"]  # 404 for whoever is not in it (the error page)
    circle = found["circle"]
    members = circle.get("members") or []
    people = parallel(**{f"p{n}": (lambda pid=pid: profile(pid))
                         for n, pid in enumerate([circle["mentor_id"], *(m["mentee_id"] for m in members)])})
    cards = [ok(people[f"p{n}"], {}) or {} for n in range(len(people))]
    zone = zone_of(ok(found["me"], {}) or {})
    meetings = (ok(found["meetings"], {}) or {}).get("items", [])
    names = {card.get("employee_id"): card.get("display_name") or card.get("employee_id") for card in cards}
    for meeting in meetings:
        meeting["when"] = local_time(meeting.get("starts_at"), zone)
        for member in meeting.get("members") or []:
            member["name"] = names.get(member["mentee_id"]) or member["mentee_id"]
    mine = next((m for m in members if m["mentee_id"] == me()), None)
    return render_template("circle.html", circle=circle, mentor=cards[0], members=list(zip(members, cards[1:])),
                           meetings=meetings, leads=me() == circle["mentor_id"] or is_admin(), my_member=mine,
                           cancel_reasons=USER_CANCEL_REASONS, zone_name=str(zone),
                           now_local=datetime.now(timezone.utc).astimezone(zone).strftime("%Y-%m-%dT%H:%M"), minutes=GROUP_MINUTES)


def _act(circle_id: str, path: str, body: dict, message: str):
    try:
        api().post("sessions", f"/v1/circles/{circle_id}/meetings{path}", body)
    except ApiError as error:
        report(error)
    else:
        done(message)
    return redirect(_page(circle_id) + "#meetings")


def _when(field: str = "starts_at") -> str:
    return to_rfc3339(request.form[field], zone_of(profile(me())))


@bp.post("/circles/<circle_id>/meetings")
@login_required
def schedule(circle_id):
    try:
        body = {"starts_at": _when(), "duration_minutes": int(request.form.get("duration_minutes") or GROUP_MINUTES),
                "agenda": request.form.get("agenda") or None}
    except (KeyError, ValueError):
        report(ApiError(422, "Invalid", errors={"starts_at": ["Give a date and time."]}))
        return redirect(_page(circle_id) + "#schedule")
    return _act(circle_id, "", body, "Circle meeting scheduled. Every member and you get one invitation.")


@bp.post("/circles/<circle_id>/meetings/<group_meeting_id>/reschedule")
@login_required
def reschedule(circle_id, group_meeting_id):
    try:
        body = {"starts_at": _when(), "duration_minutes": int(request.form["duration_minutes"])
                if request.form.get("duration_minutes") else None}
    except (KeyError, ValueError):
        report(ApiError(422, "Invalid", errors={"starts_at": ["Give a date and time."]}))
        return redirect(_page(circle_id) + "#meetings")
    return _act(circle_id, f"/{group_meeting_id}/reschedule", body, "Circle meeting moved for everyone.")


@bp.post("/circles/<circle_id>/meetings/<group_meeting_id>/cancel")
@login_required
def cancel(circle_id, group_meeting_id):
    return _act(circle_id, f"/{group_meeting_id}/cancel", {"reason": request.form.get("reason") or "other"},
                "Circle meeting cancelled for everyone.")


@bp.post("/circles/<circle_id>/meetings/<group_meeting_id>/held")
@login_required
def held(circle_id, group_meeting_id):
    """The form has one present/absent choice per member invited (`attendance.<mentee id>`)."""
    attendance = {key.removeprefix("attendance."): value for key, value in request.form.items()
                  if key.startswith("attendance.")}
    return _act(circle_id, f"/{group_meeting_id}/held", {"attendance": attendance},
                "Marked as held: it counts for every member who came.")


@bp.get("/circles/<circle_id>/meetings/<group_meeting_id>.ics")
@login_required
def meeting_ics(circle_id, group_meeting_id):
    upstream = api().raw("sessions", f"/v1/circles/{circle_id}/meetings/{group_meeting_id}.ics")
    return Response(upstream.content, mimetype="text/calendar",
                    headers={"Content-Disposition": f'attachment; filename="circle-meeting-{group_meeting_id}.ics"'})
