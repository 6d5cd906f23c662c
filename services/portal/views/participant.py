"""The participant portal: home, a proposal, my pairing (meetings, goals, notes, feedback, kudos),
enrolment, reviews and surveys, inbox and preferences."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, session, url_for

from shared.events.catalog.matching import DECLINE_REASONS, END_REASONS
from shared.events.catalog.sessions import GOAL_STATUSES, USER_CANCEL_REASONS
from services.portal import directory as listing
from services.portal.backend import ApiError
from services.portal.goal_draft import draft_goal_titles
from services.portal.i18n import gettext
from services.portal.oidc import login_required
from services.portal.views import agreement as agreement_view
from services.portal.views import availability as availability_view
from services.portal.views import choice as choice_view
from services.portal.views.common import (
    api, done, local_time, me, ok, parallel, profile, report, start, to_rfc3339, zone_of,
)

bp = Blueprint("participant", __name__)

# mirrors services/notifications/domain/routing.py CATEGORIES (the portal imports no service)
CATEGORIES = ("pairing_proposed", "mentor_request", "pairing_activated", "pairing_declined", "pairing_expired", "meeting_scheduled",
              "meeting_reminder", "feedback_request", "goals_revised",
              "agreement_proposed", "pairing_at_risk", "review_due", "kudos",
              "pairing_ended", "participant_left", "gratitude_prompt", "kudos_shared", "pairing_completed")
CHANNELS = ("email", "chat", "inapp")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _other(pairing: dict) -> str:
    return pairing["mentee_id"] if pairing["mentor_id"] == me() else pairing["mentor_id"]


def _my_role(pairing: dict) -> str:
    return "mentor" if pairing["mentor_id"] == me() else "mentee"


def _awaits_me(pairing: dict) -> bool:
    return pairing["status"] == "proposed" and not pairing.get(f"{_my_role(pairing)}_accepted")


@bp.get("/")
@login_required
def home():
    client = api()
    # The render is as long as its longest chain of calls: my pairings -> their meetings. What
    # hangs on nothing (the cohorts' list among it) runs beside that chain, not before or after it.
    independent = start(
        inbox=lambda: client.get("notifications", "/v1/me/notifications", limit=5, unread="true"),
        reviews=lambda: client.get("feedback", "/v1/me/reviews"),
        surveys=lambda: client.get("feedback", "/v1/me/surveys"),
        me=lambda: profile(me()),
        cohorts=lambda: listing.cohorts(client),
    )
    pairings = listing.my_pairings(client)
    proposals = [p for p in pairings if _awaits_me(p)]
    active = [p for p in pairings if p["status"] == "active"]
    # the meetings of my active pairings and the people I am paired with: one round, side by side
    second = parallel(**{f"meetings|{p['pairing_id']}": (lambda pid=p["pairing_id"]: client.get(
        "sessions", f"/v1/pairings/{pid}/meetings", limit=200)) for p in active},
        **{f"person|{pid}": (lambda pid=pid: profile(pid)) for pid in {_other(p) for p in pairings}})
    calls = independent.results()
    if isinstance(calls["cohorts"], ApiError):
        raise calls["cohorts"]
    cohorts = calls["cohorts"]
    by_id = {cohort["cohort_id"]: cohort for cohort in cohorts}
    for pairing in pairings:
        pairing["cohort"] = by_id.get(pairing["cohort_id"]) or {"cohort_id": pairing["cohort_id"]}
    person = ok(calls["me"], {}) or {}
    zone = zone_of(person)
    meeting_lists = {key.split("|", 1)[1]: value for key, value in second.items() if key.startswith("meetings|")}
    names = {key.split("|", 1)[1]: value for key, value in second.items() if key.startswith("person|")}
    now = _now()
    upcoming, to_rate = [], []
    for pairing in active:
        for meeting in (ok(meeting_lists.get(pairing["pairing_id"]), {}) or {}).get("items", []):
            meeting["when"] = local_time(meeting.get("starts_at"), zone)
            if meeting["status"] == "scheduled" and meeting["ends_at"] >= now.isoformat().replace("+00:00", "Z"):
                upcoming.append(meeting)
            elif meeting["status"] == "held" and (meeting.get("held_at") or "") >= (now - timedelta(days=14)).isoformat():
                to_rate.append(dict(meeting, when=local_time(meeting.get("held_at"), zone)))
    for pairing in pairings:
        pairing["other"] = ok(names.get(_other(pairing)), {}) or {"employee_id": _other(pairing)}
        pairing["answer_by_local"] = local_time(pairing.get("answer_by"), zone)
    inbox = ok(calls["inbox"], {"items": [], "unread_count": 0})
    return render_template(
        "home.html", person=person, proposals=proposals, active=active, pairings=pairings,
        next_meeting=min(upcoming, key=lambda m: m["starts_at"]) if upcoming else None, to_rate=to_rate,
        reviews=[r for r in (ok(calls["reviews"], {}) or {}).get("items", []) if not r.get("submitted")],
        surveys=[s for s in (ok(calls["surveys"], {}) or {}).get("items", []) if not s.get("answered")],
        inbox=inbox, open_cohorts=[c for c in cohorts if c.get("status") == "enrolling"],
        choosing_cohorts=choice_view.choosing(cohorts))


# -- a proposal, and my pairing --------------------------------------------------------------------

def _pairing_page(pairing_id: str, template_extra: dict | None = None, status: int = 200):
    client = api()
    pairing = client.get("matching", f"/v1/pairings/{pairing_id}")
    other_id = _other(pairing) if me() in (pairing["mentor_id"], pairing["mentee_id"]) else pairing["mentee_id"]
    calls = parallel(
        other=lambda: profile(other_id), me=lambda: profile(me()),
        cohort=lambda: client.optional("matching", f"/v1/cohorts/{pairing['cohort_id']}", default={}),
        meetings=lambda: client.get("sessions", f"/v1/pairings/{pairing_id}/meetings", limit=200),
        goals=lambda: client.get("sessions", f"/v1/pairings/{pairing_id}/goals"),
        agreement=lambda: client.optional("sessions", f"/v1/pairings/{pairing_id}/agreement"),
        # the next times both are free (issue 15), to pick from when scheduling
        slots=lambda: (client.optional("sessions", f"/v1/pairings/{pairing_id}/slots", default=None,
                                       duration_minutes=availability_view.SLOT_MINUTES)
                       if _can_meet(pairing) else None),
    )
    zone = zone_of(ok(calls["me"], {}) or {})
    meetings = (ok(calls["meetings"], {}) or {}).get("items", [])
    for meeting in meetings:
        meeting["when"] = local_time(meeting.get("starts_at"), zone)
    cohort = ok(calls["cohort"], {}) or {}
    held = [m for m in meetings if m["status"] == "held"]
    agreement = agreement_view.page_context(pairing, ok(calls["agreement"], None))
    # the cadence both agreed to holds for this pair (as for the sessions service's at-risk clock)
    cadence = agreement["agreed_cadence"] or cohort.get("meeting_cadence_days") or 14
    last = max((m.get("held_at") or m["starts_at"] for m in held), default=None)
    on_track = None
    if pairing["status"] == "active":
        if last:
            since = _now() - datetime.fromisoformat(last.replace("Z", "+00:00"))
            on_track = since.days <= cadence
        else:
            on_track = any(m["status"] == "scheduled" for m in meetings)
    proposal = pairing["status"] == "proposed"
    my_role = _my_role(pairing) if me() in (pairing["mentor_id"], pairing["mentee_id"]) else None
    other_role = "mentee" if my_role == "mentor" else "mentor"
    context = dict(
        pairing=pairing, other=ok(calls["other"], {}) or {}, cohort=cohort, meetings=meetings,
        goals=ok(calls["goals"], None), cadence=cadence, on_track=on_track, my_role=my_role,
        answer_by_local=local_time(pairing.get("answer_by"), zone),
        awaiting_me=my_role is not None and proposal and not pairing.get(f"{my_role}_accepted"),
        action=request.args.get("action"), decline_reasons=DECLINE_REASONS, end_reasons=END_REASONS,
        cancel_reasons=USER_CANCEL_REASONS, now_local=_now().astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        zone_name=str(zone), slot_choices=availability_view.slot_choices(ok(calls["slots"], None)),
        slots_missing=(ok(calls["slots"], None) or {}).get("missing_availability") or [],
        can_meet=_can_meet(pairing),
        # a completed pairing (issue 15): each party's answer to staying in touch (None: not yet)
        my_stay=pairing.get(f"{my_role}_stays_in_touch") if my_role else None,
        other_stay=pairing.get(f"{other_role}_stays_in_touch") if my_role else None,
        **agreement, **(template_extra or {}))
    return render_template("proposal.html" if proposal else "pairing.html", **context), status


def _can_meet(pairing: dict) -> bool:
    """Meetings may be planned: an active pairing, or a completed one both chose to stay in touch
    (the sessions service's rule; it refuses the rest with 409)."""
    return pairing["status"] == "active" or (pairing["status"] == "completed" and bool(pairing.get("staying_in_touch")))


@bp.get("/pairings/<pairing_id>")
@login_required
def pairing(pairing_id):
    return _pairing_page(pairing_id)


@bp.post("/pairings/<pairing_id>/accept")
@login_required
def accept(pairing_id):
    try:
        result = api().post("matching", f"/v1/pairings/{pairing_id}/accept", {})
    except ApiError as error:
        report(error)
        return redirect(url_for(".pairing", pairing_id=pairing_id))
    done("You accepted. We will tell you when your partner has answered too." if result.get("status") == "proposed"
         else "You accepted: the pairing is active. Plan your first meeting.")
    return redirect(url_for(".pairing", pairing_id=pairing_id))


@bp.post("/pairings/<pairing_id>/decline")
@login_required
def decline(pairing_id):
    reason = request.form.get("reason") or None
    try:
        api().post("matching", f"/v1/pairings/{pairing_id}/decline", {"reason": reason})
    except ApiError as error:
        report(error)
        return redirect(url_for(".pairing", pairing_id=pairing_id))
    done("You declined this proposal. You will not be proposed to each other again.")
    return redirect(url_for(".home"))


@bp.post("/pairings/<pairing_id>/end")
@login_required
def end(pairing_id):
    try:
        api().post("matching", f"/v1/pairings/{pairing_id}/end", {"reason": request.form.get("reason")})
    except ApiError as error:
        report(error)
    else:
        done("The pairing has ended.")
    return redirect(url_for(".pairing", pairing_id=pairing_id))


@bp.post("/pairings/<pairing_id>/stay-in-touch")
@login_required
def stay_in_touch(pairing_id):
    """A party of a completed pairing says whether they would like to stay in touch."""
    choice = request.form.get("stay_in_touch") == "yes"
    try:
        result = api().post("matching", f"/v1/pairings/{pairing_id}/stay-in-touch", {"stay_in_touch": choice})
    except ApiError as error:
        report(error)
    else:
        done("You both want to stay in touch: keep planning meetings." if result.get("staying_in_touch")
             else "Thank you: we noted that you would like to stay in touch." if choice
             else "Thank you: we noted your answer.")
    return redirect(url_for(".pairing", pairing_id=pairing_id))


# -- meetings ----------------------------------------------------------------------------------------

def _zone():
    return zone_of(profile(me()))


@bp.post("/pairings/<pairing_id>/meetings")
@login_required
def schedule(pairing_id):
    form = request.form
    try:
        # a common slot picked from the list is a UTC instant already; else the typed local time
        starts_at = form.get("slot") or to_rfc3339(form["starts_at"], _zone())
        body = {"starts_at": starts_at,
                "duration_minutes": int(form.get("duration_minutes") or 45), "agenda": form.get("agenda") or None}
        repeat_weeks = int(form.get("repeat_weeks") or 0)
        if repeat_weeks:  # a recurring series (issue 15): its first meeting's page opens
            body.update(interval_weeks=repeat_weeks, count=int(form.get("count") or 6))
            meeting = api().post("sessions", f"/v1/pairings/{pairing_id}/series", body)["occurrences"][0]
        else:
            meeting = api().post("sessions", f"/v1/pairings/{pairing_id}/meetings", body)
    except (KeyError, ValueError):
        report(ApiError(422, "Invalid", errors={"starts_at": ["Give a date and time."]}))
        return redirect(url_for(".pairing", pairing_id=pairing_id) + "#schedule")
    except ApiError as error:
        report(error)
        return redirect(url_for(".pairing", pairing_id=pairing_id) + "#schedule")
    done("Meeting scheduled. Both of you get an invitation.")
    return redirect(url_for(".meeting", meeting_id=meeting["meeting_id"]))


@bp.get("/meetings/<meeting_id>")
@login_required
def meeting(meeting_id):
    client = api()
    item = client.get("sessions", f"/v1/meetings/{meeting_id}")
    party = me() in (item["mentor_id"], item["mentee_id"])
    calls = parallel(me=lambda: profile(me()),
                     notes=lambda: client.optional("sessions", f"/v1/meetings/{meeting_id}/notes", default={}) if party else {},
                     pairing=lambda: client.get("matching", f"/v1/pairings/{item['pairing_id']}"))
    zone = zone_of(ok(calls["me"], {}) or {})
    item["when"] = local_time(item.get("starts_at"), zone)
    item["held_when"] = local_time(item.get("held_at"), zone)
    pairing = ok(calls["pairing"], {}) or {}
    other_id = item["mentee_id"] if item["mentor_id"] == me() else item["mentor_id"]
    return render_template("meeting.html", meeting=item, notes=(ok(calls["notes"], {}) or {}).get("notes"),
                           pairing=pairing, other=profile(other_id), party=party, cancel_reasons=USER_CANCEL_REASONS,
                           now_local=_now().astimezone(zone).strftime("%Y-%m-%dT%H:%M"), zone_name=str(zone))


def _meeting_action(meeting_id: str, path: str, body: dict, message: str):
    try:
        api().post("sessions", f"/v1/meetings/{meeting_id}/{path}", body)
    except ApiError as error:
        report(error)
    else:
        done(message)
    return redirect(url_for(".meeting", meeting_id=meeting_id))


@bp.post("/meetings/<meeting_id>/reschedule")
@login_required
def reschedule(meeting_id):
    try:
        body = {"starts_at": to_rfc3339(request.form["starts_at"], _zone()),
                "duration_minutes": int(request.form["duration_minutes"]) if request.form.get("duration_minutes") else None}
    except (KeyError, ValueError):
        report(ApiError(422, "Invalid", errors={"starts_at": ["Give a date and time."]}))
        return redirect(url_for(".meeting", meeting_id=meeting_id))
    return _meeting_action(meeting_id, "reschedule", body, "Meeting moved.")


@bp.post("/meetings/<meeting_id>/cancel")
@login_required
def cancel(meeting_id):
    return _meeting_action(meeting_id, "cancel", {"reason": request.form.get("reason")}, "Meeting cancelled.")


@bp.post("/meetings/<meeting_id>/complete")
@login_required
def complete(meeting_id):
    body = {"notes": request.form.get("notes") or None}
    if request.form.get("held_at"):
        try:
            body["held_at"] = to_rfc3339(request.form["held_at"], _zone())
        except ValueError:
            pass
    if request.form.get("duration_minutes"):
        body["duration_minutes"] = int(request.form["duration_minutes"])
    return _meeting_action(meeting_id, "complete", body, "Marked as held. How did it go? Give feedback below.")


@bp.post("/meetings/<meeting_id>/no-show")
@login_required
def no_show(meeting_id):
    absent = request.form.getlist("absent_ids")
    return _meeting_action(meeting_id, "no-show", {"absent_ids": absent}, "No-show recorded.")


@bp.get("/meetings/<meeting_id>.ics")
@login_required
def meeting_ics(meeting_id):
    upstream = api().raw("sessions", f"/v1/meetings/{meeting_id}.ics")
    return Response(upstream.content, mimetype="text/calendar",
                    headers={"Content-Disposition": f'attachment; filename="meeting-{meeting_id}.ics"'})


# -- goals ---------------------------------------------------------------------------------------------

def _goals_from_form(form) -> list[dict]:
    goals = []
    for index in range(int(form.get("rows") or 0) + 1):
        title = (form.get(f"title_{index}") or "").strip()
        if not title:
            continue
        goal = {"title": title, "status": form.get(f"status_{index}") or "open"}
        if form.get(f"goal_id_{index}"):
            goal["goal_id"] = form[f"goal_id_{index}"]
        if form.get(f"progress_{index}"):
            goal["progress"] = int(form[f"progress_{index}"])
        if form.get(f"target_date_{index}"):
            goal["target_date"] = form[f"target_date_{index}"]
        goals.append(goal)
    return goals


@bp.route("/pairings/<pairing_id>/goals", methods=["GET", "POST"])
@login_required
def goals(pairing_id):
    client = api()
    conflict, mine, status = None, None, 200
    if request.method == "POST":
        mine = _goals_from_form(request.form)
        try:
            client.put("sessions", f"/v1/pairings/{pairing_id}/goals",
                       {"expected_revision": int(request.form.get("expected_revision") or 0), "goals": mine})
        except ApiError as error:
            if error.status == 409:
                conflict, status = error, 409
            else:
                report(error)
                status = error.status
        else:
            done("Goals saved.")
            return redirect(url_for(".goals", pairing_id=pairing_id))
    calls = parallel(current=lambda: client.get("sessions", f"/v1/pairings/{pairing_id}/goals"),
                     history=lambda: client.get("sessions", f"/v1/pairings/{pairing_id}/goals/revisions", limit=200),
                     pairing=lambda: client.get("matching", f"/v1/pairings/{pairing_id}"))
    for value in calls.values():
        if isinstance(value, ApiError):
            raise value
    current = calls["current"]
    editing = mine if (conflict or status != 200) and mine is not None else current["goals"]
    drafted = False
    if not editing and mine is None and not current["goals"]:
        # No goals yet: the mentee's own words from their enrolment, typed in for the pair to edit;
        # nothing is stored until they save (goal_draft.py).
        editing = [{"title": title, "status": "open"}
                   for title in draft_goal_titles(calls["pairing"].get("goals_summary"))]
        drafted = bool(editing)
    return render_template("goals.html", pairing=calls["pairing"], current=current, editing=editing,
                           history=list(reversed(calls["history"]["items"])), conflict=conflict,
                           statuses=GOAL_STATUSES, drafted=drafted), status


# -- feedback and kudos --------------------------------------------------------------------------------

@bp.route("/pairings/<pairing_id>/feedback", methods=["GET", "POST"])
@login_required
def feedback(pairing_id):
    client = api()
    if request.method == "POST":
        form = request.form
        good_fit = {"yes": True, "no": False}.get(form.get("good_fit") or "")
        body = {"rating": int(form.get("rating") or 0), "comment": form.get("comment") or None,
                "share_comment": form.get("share_comment") == "on", "good_fit": good_fit,
                "meeting_id": form.get("meeting_id") or None}
        try:
            client.post("feedback", f"/v1/pairings/{pairing_id}/feedback", body)
        except ApiError as error:
            report(error)
        else:
            done("Thank you for your feedback.")
            return redirect(url_for(".pairing", pairing_id=pairing_id))
    pairing_doc = client.get("matching", f"/v1/pairings/{pairing_id}")
    meetings = client.get("sessions", f"/v1/pairings/{pairing_id}/meetings", limit=200)["items"]
    zone = _zone()
    held = [dict(m, when=local_time(m.get("held_at") or m["starts_at"], zone)) for m in meetings if m["status"] == "held"]
    return render_template("feedback.html", pairing=pairing_doc, held=held,
                           meeting_id=request.values.get("meeting_id"), other=profile(_other(pairing_doc)))


@bp.route("/pairings/<pairing_id>/kudos", methods=["GET", "POST"])
@login_required
def kudos(pairing_id):
    client = api()
    pairing_doc = client.get("matching", f"/v1/pairings/{pairing_id}")
    # Only the mentee thanking their mentor may share it with the mentor's manager (issue 15).
    mentee = pairing_doc.get("mentee_id") == me()
    if request.method == "POST":
        body = {"note": request.form.get("note", "").strip()}
        if mentee and request.form.get("share_with_manager") == "on":
            body["share_with_manager"] = True
        try:
            client.post("feedback", f"/v1/pairings/{pairing_id}/kudos", body)
        except ApiError as error:
            if error.code == "no_manager":
                flash(gettext("Your mentor has no manager on record to share it with: send it without sharing."),
                      "error")
            else:
                report(error)
        else:
            done("Your thank-you is on its way.")
            return redirect(url_for(".pairing", pairing_id=pairing_id))
    return render_template("kudos_form.html", pairing=pairing_doc, other=profile(_other(pairing_doc)),
                           can_share=mentee, note=request.form.get("note", ""))


@bp.get("/kudos/shared/<kudos_id>")
@bp.get("/kudos/shared", defaults={"kudos_id": None})
@login_required
def kudos_shared(kudos_id):
    """Thank-yous mentees shared with the signed-in person as their mentor's manager (the page a
    `kudos_shared` notification links to)."""
    items = api().get("feedback", "/v1/me/kudos/shared")["items"]
    ids = {k["from_id"] for k in items} | {k["to_id"] for k in items}
    people = parallel(**{pid: (lambda pid=pid: profile(pid)) for pid in ids})
    for item in items:
        item["from"] = ok(people.get(item["from_id"]), {}) or {}
        item["to"] = ok(people.get(item["to_id"]), {}) or {}
    return render_template("kudos_shared.html", items=items, selected=kudos_id)


@bp.get("/kudos/<kudos_id>")
@bp.get("/kudos", defaults={"kudos_id": None})
@login_required
def my_kudos(kudos_id):
    items = api().get("feedback", "/v1/me/kudos")["items"]
    people = parallel(**{pid: (lambda pid=pid: profile(pid)) for pid in {k["from_id"] for k in items}})
    for item in items:
        item["from"] = ok(people.get(item["from_id"]), {}) or {}
    return render_template("kudos.html", items=items, selected=kudos_id)


# -- reviews and surveys --------------------------------------------------------------------------------

def _review_goals(form) -> list[dict]:
    """The review form's `progress_<goal_id>` fields as the answer's progress per goal (blank ones left out)."""
    goals = []
    for name, value in form.items():
        if name.startswith("progress_") and value.strip().lstrip("-").isdigit():
            goals.append({"goal_id": name.removeprefix("progress_"), "progress": int(value)})
    return goals


@bp.route("/reviews/<review_id>", methods=["GET", "POST"])
@login_required
def review(review_id):
    client = api()
    if request.method == "POST":
        try:
            body = {"goal_progress": int(request.form.get("goal_progress") or 0),
                    "satisfaction": int(request.form.get("satisfaction") or 0)}
            goals = _review_goals(request.form)
            if goals:  # the progress per goal is kept in the review's answer too (issue 15)
                body["goals"] = goals
            client.post("feedback", f"/v1/reviews/{review_id}/answers", body)
        except ApiError as error:
            report(error)
        else:
            done("Review sent. Thank you.")
            if request.form.get("pairing_id"):  # progress per goal, as a goals revision
                agreement_view.update_progress(request.form["pairing_id"], request.form)
            return redirect(url_for(".home"))
    found = [r for r in client.get("feedback", "/v1/me/reviews")["items"] if r["review_id"] == review_id]
    if not found:
        abort(404)
    pairing_id = found[0].get("pairing_id")
    goals = client.optional("sessions", f"/v1/pairings/{pairing_id}/goals") if pairing_id else None
    return render_template("review.html", review=found[0], goals=goals)


@bp.post("/surveys/<survey_id>")
@login_required
def survey(survey_id):
    try:
        api().post("feedback", f"/v1/surveys/{survey_id}/answers",
                   {"recommend_score": int(request.form.get("recommend_score") or -1)})
    except ApiError as error:
        report(error)
    else:
        done("Thank you for answering the survey.")
    return redirect(url_for(".home"))


# -- enrol myself -------------------------------------------------------------------------------------

@bp.route("/enrol", methods=["GET", "POST"])
@login_required
def enrol():
    client = api()
    cohorts = [c for c in listing.cohorts(client) if c.get("status") == "enrolling"]
    values = request.form if request.method == "POST" else {}
    if request.method == "POST":
        role = values.get("role")
        body = {"employee_id": me(), "role": role,
                "topics": [t.strip() for t in (values.get("topics") or "").split(",") if t.strip()],
                "goals_summary": values.get("goals_summary") or None,
                "preferences": {"same_timezone": values.get("same_timezone") == "on",
                                "languages": [x.strip() for x in (values.get("languages") or "").split(",") if x.strip()]}}
        if role == "mentor":
            body["capacity"] = int(values.get("capacity") or 0)
        try:
            client.post("matching", f"/v1/cohorts/{values.get('cohort_id')}/enrollments", body)
        except ApiError as error:
            report(error)
        else:
            done("You are enrolled. We will tell you when we propose a match.")
            return redirect(url_for(".home"))
    return render_template("enrol.html", cohorts=cohorts, values=values, person=profile(me()))


# -- inbox and preferences -----------------------------------------------------------------------------

@bp.get("/inbox")
@login_required
def inbox():
    page = api().get("notifications", "/v1/me/notifications", limit=50,
                     **({"cursor": request.args["cursor"]} if request.args.get("cursor") else {}))
    return render_template("inbox.html", page=page)


@bp.post("/inbox/<notification_id>/read")
@login_required
def mark_read(notification_id):
    try:
        api().post("notifications", f"/v1/me/notifications/{notification_id}/read")
    except ApiError as error:
        report(error)
    if request.headers.get("HX-Request"):
        return render_template("_read_badge.html")
    return redirect(url_for(".inbox"))


@bp.route("/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    client = api()
    if request.method == "POST":
        form = request.form
        body = {
            "channels": {cat: {ch: form.get(f"{cat}.{ch}") == "on" for ch in CHANNELS} for cat in CATEGORIES},
            "email_enabled": form.get("email_enabled") == "on", "digest": form.get("digest") == "on",
            "digest_hour": int(form.get("digest_hour") or 8),
            "quiet_hours": ({"start": form["quiet_start"], "end": form["quiet_end"]}
                            if form.get("quiet_start") and form.get("quiet_end") else None),
            "language": form.get("language") or None,
            "chat_webhook_url": form.get("chat_webhook_url") or None,
        }
        try:
            client.put("notifications", "/v1/me/preferences", body)
        except ApiError as error:
            report(error)
        else:
            if body["language"] in ("en", "de"):
                session["lang"] = body["language"]
                g.lang = body["language"]
            done("Preferences saved.")
            return redirect(url_for(".preferences"))
    prefs = client.get("notifications", "/v1/me/preferences")
    return render_template("preferences.html", prefs=prefs, categories=CATEGORIES, channels=CHANNELS)
