"""My availability (issue 15): the person's weekly intervals in their time zone, edited as a table of
days with a few from-to rows each; the pairing page's common slots to pick from when scheduling;
and a recurring series' calendar file and cancelling what is still to come of it.

The sessions API checks everything (docs/api-sessions-availability.md): a refused week is shown
again as typed, with the API's message naming the bad interval.
"""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, redirect, render_template, request, url_for

from services.portal.backend import ApiError
from services.portal.oidc import login_required
from services.portal.views.common import api, done, me, report

bp = Blueprint("availability", __name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday", "fri": "Friday",
             "sat": "Saturday", "sun": "Sunday"}
ROWS_PER_DAY = 3  # from-to rows shown per day (a lunch break needs two; more are rare)
SLOTS_SHOWN = 8
SLOT_MINUTES = 45  # the scheduling form's default length


def weekly_from_form(form) -> list[dict]:
    """The week as the API takes it: every row with both times filled in (a half-filled row too, so the
    API names it rather than it silently vanishing)."""
    weekly = []
    for day in DAYS:
        for row in range(ROWS_PER_DAY):
            start, end = (form.get(f"{day}.{row}.{edge}", "").strip() for edge in ("start", "end"))
            if start or end:
                weekly.append({"day": day, "start": start, "end": "24:00" if end == "00:00" and start else end})
    return weekly


def _rows(weekly: list[dict]) -> dict[str, list[dict]]:
    """day -> ROWS_PER_DAY rows ({start, end}, empty ones to fill in)."""
    rows: dict[str, list[dict]] = {day: [] for day in DAYS}
    for interval in weekly:
        if interval.get("day") in rows:
            end = interval.get("end", "")
            # a time field cannot hold 24:00: the end of the day is shown (and typed) as 00:00
            rows[interval["day"]].append({"start": interval.get("start", ""), "end": "00:00" if end == "24:00" else end})
    for day in DAYS:
        rows[day] = (rows[day] + [{"start": "", "end": ""}] * ROWS_PER_DAY)[:max(ROWS_PER_DAY, len(rows[day]))]
    return rows


@bp.route("/availability", methods=["GET", "POST"])
@login_required
def my_availability():
    client = api()
    current = client.optional("sessions", "/v1/me/availability", default=None) or {
        "weekly": [], "time_zone": None, "time_zone_source": "default", "version": 0}
    status = 200
    if request.method == "POST":
        weekly = weekly_from_form(request.form)
        body = {"weekly": weekly, "time_zone": request.form.get("time_zone", "").strip() or None}
        try:
            client.put("sessions", "/v1/me/availability", body)
        except ApiError as error:
            report(error)
            current = dict(current, weekly=weekly, time_zone=body["time_zone"] or current.get("time_zone"))
            status = 422 if error.status == 422 else error.status
        else:
            done("Availability saved. Your partners see the times you are both free, never your week.")
            return redirect(url_for(".my_availability"))
    chosen = (current.get("time_zone") if current.get("time_zone_source") == "chosen" else None) or ""
    typed = request.form.get("time_zone", "") if request.method == "POST" else chosen
    return render_template("availability.html", rows=_rows(current.get("weekly") or []), days=DAYS,
                           day_names=DAY_NAMES, zone=current.get("time_zone") or "UTC",
                           zone_source=current.get("time_zone_source"), form_zone=typed), status


def slot_choices(slots: dict | None) -> list[dict]:
    """The pairing page's choices: each slot's UTC start (the form's value) and the person's local time."""
    choices = []
    for slot in (slots or {}).get("items", [])[:SLOTS_SHOWN]:
        local = (slot.get("local") or {}).get(me()) or {}
        when = local.get("starts_at") or slot["starts_at"]
        try:
            label = datetime.fromisoformat(when.replace("Z", "+00:00")).strftime("%a %d %b %H:%M")
        except ValueError:
            label = when
        choices.append({"value": slot["starts_at"], "label": label})
    return choices


@bp.get("/series/<series_id>.ics")
@login_required
def series_ics(series_id):
    upstream = api().raw("sessions", f"/v1/series/{series_id}.ics")
    return Response(upstream.content, mimetype="text/calendar",
                    headers={"Content-Disposition": f'attachment; filename="meetings-{series_id}.ics"'})


@bp.post("/series/<series_id>/cancel")
@login_required
def cancel_series(series_id):
    try:
        series = api().post("sessions", f"/v1/series/{series_id}/cancel",
                            {"reason": request.form.get("reason") or "other"})
    except ApiError as error:
        report(error)
        return redirect(request.referrer or url_for("participant.home"))
    done("Every meeting of the series still to come is cancelled.")
    return redirect(url_for("participant.pairing", pairing_id=series["pairing_id"]))
