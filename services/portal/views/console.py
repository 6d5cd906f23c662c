"""The programme console (platform admins; a programme's managers for their programmes, the APIs
refusing the rest): programmes and cohorts (create, edit, duplicate as the next
intake), enrolments (one, or a CSV; a searchable, paged table with capacity and pause edits),
matching dry run → review → publish, manual pairing, cohort health, export, chat channel,
delivery log."""
from __future__ import annotations

import csv
import io
from collections import Counter

from flask import Blueprint, Response, redirect, render_template, request, url_for

from shared.events.catalog.matching import COHORT_FORMATS, COHORT_STATUSES, MATCHING_MODES, MATCHING_STYLES
from services.portal import directory as listing
from services.portal.backend import ApiError
from services.portal.charts import bar_chart, column_chart
from services.portal.i18n import gettext as _
from services.portal.managers import console_required, managed_programs, may_use_console
from services.portal.views.common import api, done, is_admin, ok, parallel, profile, report

bp = Blueprint("console", __name__, url_prefix="/console")

ENROLMENT_PAGE = 50
ACTIVE_SHOWN = 50  # the health page lists this many active pairs (their names: one call each, cached)
HARD_RULES = ("require_shared_language", "exclude_management_chain", "respect_exclude_list", "require_active")
CROSS_DEPARTMENT = ("bonus", "malus")  # services/matching/domain/rules.py CROSS_DEPARTMENT_MODES
CIRCLES_SHOWN = 100  # a circle cohort's page lists this many circles (one per mentor; names cached)
CIRCLE_SIZES = ("circle_min_size", "circle_max_size")
CSV_COLUMNS = ("employee_id", "role", "capacity", "topics", "goals_summary", "same_timezone", "languages")
HEALTH_COLORS = {"on_track": "#2f8f6b", "needs_check_in": "#c98a12", "at_risk": "#c2352d", "too_early": "#7a7f8c"}


def _next_status(status: str | None) -> str | None:
    if status in COHORT_STATUSES and COHORT_STATUSES.index(status) + 1 < len(COHORT_STATUSES):
        return COHORT_STATUSES[COHORT_STATUSES.index(status) + 1]
    return None


# -- programmes and cohorts -----------------------------------------------------------------------

@bp.route("/", methods=["GET", "POST"])
@console_required
def programs():
    client = api()
    if request.method == "POST":
        name, description = request.form.get("name", "").strip(), request.form.get("description") or None
        try:
            created = client.post("matching", "/v1/programs", {"name": name, "description": description})
        except ApiError as error:
            report(error)
        else:
            done("Programme created.")
            return redirect(url_for(".program", program_id=created["program_id"]))
    if is_admin():
        return render_template("console/programs.html", programs=listing.programs(client), platform_admin=True)
    managed = {p["program_id"] for p in managed_programs()}
    return render_template("console/programs.html", platform_admin=False,
                           programs=[p for p in listing.programs(client) if p["program_id"] in managed])


@bp.app_context_processor
def _console_link():
    """`may_use_console()` for the nav (asked only when a page shows the nav to someone signed in)."""
    return {"may_use_console": may_use_console}


@bp.route("/programs/<program_id>", methods=["GET", "POST"])
@console_required
def program(program_id):
    client = api()
    values = request.form if request.method == "POST" else {}
    if request.method == "POST":
        body = {"name": values.get("name", "").strip(), "starts_on": values.get("starts_on"),
                "ends_on": values.get("ends_on")}
        try:
            body.update(_numbers(values, ("meeting_cadence_days", "answer_deadline_days", "max_mentor_capacity")))
            if values.get("matching_style"):
                body["matching_style"] = values["matching_style"]
            if values.get("format") in COHORT_FORMATS:
                body["format"] = values["format"]
                body.update(_numbers(values, CIRCLE_SIZES))
            cohort = client.post("matching", f"/v1/programs/{program_id}/cohorts", body)
        except ApiError as error:
            report(error)
        else:
            done("Cohort created.")
            return redirect(url_for(".cohort", cohort_id=cohort["cohort_id"]))
    calls = parallel(program=lambda: listing.program(client, program_id),
                     cohorts=lambda: listing.cohorts(client, program_id))
    if isinstance(calls["cohorts"], ApiError):
        raise calls["cohorts"]
    return render_template("console/program.html", program=ok(calls["program"], {"program_id": program_id}),
                           cohorts=calls["cohorts"], values=values, styles=_style_labels(), formats=_format_labels())


def _style_labels() -> dict[str, str]:
    labels = {"admin_run": _("Admins run the matching"), "mentee_choice": _("Mentees choose their mentor"),
              "both": _("Both: admins run it, mentees may choose")}
    return {style: labels[style] for style in MATCHING_STYLES}


def _format_labels() -> dict[str, str]:
    labels = {"pair": _("One-to-one pairs"), "circle": _("Circles: one mentor, a group of mentees")}
    return {name: labels[name] for name in COHORT_FORMATS}


def _circles(client, cohort: dict) -> tuple[list[dict], dict[str, str]]:
    """A circle cohort's circles (matching's `GET /v1/cohorts/{id}/circles`), each with its open
    members counted, and their mentors' names; a pair cohort has none (no call)."""
    if cohort.get("format") != "circle":
        return [], {}
    page = client.optional("matching", f"/v1/cohorts/{cohort['cohort_id']}/circles", default={},
                           limit=CIRCLES_SHOWN) or {}
    circles = [{**c, "size": sum(1 for m in c.get("members") or () if m.get("status") in ("proposed", "active")),
                "members_active": sum(1 for m in c.get("members") or () if m.get("status") == "active")}
               for c in page.get("items") or []]
    people = parallel(**{c["mentor_id"]: (lambda pid=c["mentor_id"]: profile(pid)) for c in circles})
    return circles, {pid: (ok(v, {}) or {}).get("display_name") or pid for pid, v in people.items()}


def _numbers(values, names) -> dict:
    """Whole-number form fields as numbers (blank: left out); a non-number is the API's 422 on that field."""
    out = {}
    for name in names:
        text = (values.get(name) or "").strip()
        if text:
            if not text.isdigit():
                raise ApiError(422, "Invalid", errors={name: [_("must be a whole number")]})
            out[name] = int(text)
    return out


@bp.get("/cohorts/<cohort_id>")
@console_required
def cohort(cohort_id):
    client = api()
    calls = parallel(cohort=lambda: client.get("matching", f"/v1/cohorts/{cohort_id}"),
                     stats=lambda: client.get("matching", f"/v1/cohorts/{cohort_id}/stats"))
    if isinstance(calls["cohort"], ApiError):
        raise calls["cohort"]
    circles, mentor_names = _circles(client, calls["cohort"])
    return render_template("console/cohort.html", cohort=calls["cohort"], stats=ok(calls["stats"], {}),
                           next_status=_next_status(calls["cohort"].get("status")), styles=_style_labels(),
                           hard_rules=HARD_RULES, cross_department=CROSS_DEPARTMENT, formats=_format_labels(),
                           circles=circles, mentor_names=mentor_names)


def _settings_body(form, cohort: dict) -> dict:
    """The edit form as a PATCH body: every setting it shows (the API stores only what changed)."""
    body: dict = {"name": form.get("name", "").strip(), "starts_on": form.get("starts_on"),
                  "ends_on": form.get("ends_on"), "matching_style": form.get("matching_style") or "admin_run"}
    body.update(_numbers(form, ("meeting_cadence_days", "answer_deadline_days")))
    body["max_mentor_capacity"] = _numbers(form, ("max_mentor_capacity",)).get("max_mentor_capacity")
    if form.get("format") in COHORT_FORMATS:  # the API refuses a change once anyone can be paired (409)
        body["format"] = form["format"]
    body.update(_numbers(form, CIRCLE_SIZES))
    # the form shows some rules; the rest (weights) are kept as they are, since a PATCH replaces the rules
    rules = {**(cohort.get("rules") or {}), **{name: form.get(name) == "on" for name in HARD_RULES}}
    rules["min_level_gap"] = _numbers(form, ("min_level_gap",)).get("min_level_gap")
    if form.get("cross_department") in CROSS_DEPARTMENT:
        rules["cross_department"] = form["cross_department"]
    body["rules"] = rules
    return body


@bp.post("/cohorts/<cohort_id>/settings")
@console_required
def edit_cohort(cohort_id):
    client = api()
    try:
        client.patch("matching", f"/v1/cohorts/{cohort_id}",
                     _settings_body(request.form, client.get("matching", f"/v1/cohorts/{cohort_id}")))
    except ApiError as error:
        report(error)
    else:
        done("Cohort settings saved.")
    return redirect(url_for(".cohort", cohort_id=cohort_id))


@bp.post("/cohorts/<cohort_id>/duplicate")
@console_required
def duplicate(cohort_id):
    try:
        copy = api().post("matching", f"/v1/cohorts/{cohort_id}/duplicate", {
            "name": request.form.get("name", "").strip(), "starts_on": request.form.get("starts_on"),
            "ends_on": request.form.get("ends_on")})
    except ApiError as error:
        report(error)
        return redirect(url_for(".cohort", cohort_id=cohort_id))
    done("Next intake created with the same settings.")
    return redirect(url_for(".cohort", cohort_id=copy["cohort_id"]))


@bp.post("/cohorts/<cohort_id>/status")
@console_required
def move(cohort_id):
    try:
        api().post("matching", f"/v1/cohorts/{cohort_id}/status", {"status": request.form.get("status")})
    except ApiError as error:
        report(error)
    else:
        done("Cohort status changed.")
    return redirect(url_for(".cohort", cohort_id=cohort_id))


# -- enrolments ----------------------------------------------------------------------------------------

def _enrolment_body(row: dict) -> dict:
    """A CSV row or form as the API's enrolment body (contract: one line of cohort-enrollments.jsonl)."""
    body = {"employee_id": (row.get("employee_id") or "").strip(), "role": (row.get("role") or "").strip(),
            "topics": [t.strip() for t in (row.get("topics") or "").replace(";", ",").split(",") if t.strip()]}
    if (row.get("capacity") or "").strip():
        body["capacity"] = int(row["capacity"])
    if (row.get("goals_summary") or "").strip():
        body["goals_summary"] = row["goals_summary"].strip()
    preferences: dict = {}
    if (row.get("same_timezone") or "").strip().lower() in ("true", "yes", "1", "on"):
        preferences["same_timezone"] = True
    languages = [x.strip() for x in (row.get("languages") or "").replace(";", ",").split(",") if x.strip()]
    if languages:
        preferences["languages"] = languages
    if preferences:
        body["preferences"] = preferences
    return body


def _row_problems(row: dict) -> list[str]:
    problems = []
    if not (row.get("employee_id") or "").strip():
        problems.append(_("employee_id is missing"))
    if (row.get("role") or "").strip() not in ("mentor", "mentee"):
        problems.append(_("role must be mentor or mentee"))
    capacity = (row.get("capacity") or "").strip()
    if capacity and not capacity.isdigit():
        problems.append(_("capacity must be a whole number"))
    if (row.get("role") or "").strip() == "mentor" and not (capacity.isdigit() and int(capacity) > 0):
        problems.append(_("a mentor needs a capacity of at least 1"))
    if (row.get("role") or "").strip() == "mentee" and capacity and capacity != "0":
        problems.append(_("a mentee has no capacity"))
    if not (row.get("topics") or "").strip():
        problems.append(_("topics are missing"))
    return problems


# A CSV of the whole org (20,000 lines) is one bulk request the matching service answers in well
# under a minute; a page's calls get 10 s.
IMPORT_TIMEOUT_S = 300.0


def import_csv(client, cohort_id: str, text: str) -> tuple[int, list[tuple[int, str]]]:
    """Nothing half-imported: check every line here first and send nothing while one is wrong; then
    the matching service's dry run (`?dry_run=true`: every line against the cohort as it is, e.g. an
    unknown employee or a capacity above the cohort's maximum, nothing stored) and the import only if
    it refuses no line. (enrolled or already enrolled, [(line, problem)]); lines are the file's.
    Only a change between the two requests (someone else enrolling a line's person meanwhile) can
    still leave lines refused by the import itself: those are shown, with the count imported."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"employee_id", "role", "topics"} - set(reader.fieldnames or ())
    if missing:
        return 0, [(1, _("the header needs the columns: {columns}", columns=", ".join(sorted(missing))))]
    rows = list(enumerate(reader, start=2))
    errors: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        errors += [(line, problem) for problem in _row_problems(row)]
        employee = (row.get("employee_id") or "").strip()
        if employee in seen:
            errors.append((line, _("{employee} is already on line {line}", employee=employee, line=seen[employee])))
        seen.setdefault(employee, line)
    if errors or not rows:
        return 0, sorted(errors)
    body, lines = [_enrolment_body(row) for _, row in rows], [line for line, _ in rows]
    path = f"/v1/cohorts/{cohort_id}/enrollments"
    try:
        refused = _refused_lines(client.post("matching", f"{path}?dry_run=true", body, timeout_s=IMPORT_TIMEOUT_S),
                                 lines)
        if refused:
            return 0, refused
        answer = client.post("matching", path, body, timeout_s=IMPORT_TIMEOUT_S)
    except ApiError as error:
        return 0, [(1, message) for message in error.messages()]
    return int(answer.get("enrolled", 0)) + int(answer.get("already_enrolled", 0)), _refused_lines(answer, lines)


def _refused_lines(answer: dict, lines: list[int]) -> list[tuple[int, str]]:
    """A bulk answer's refused rows as (file line, problem), in line order."""
    errors = []
    for result in answer.get("rows") or []:
        if result.get("outcome") != "error":
            continue
        line = lines[result["row"] - 1]
        errors += [(line, f"{problem['field']}: {problem['message']}" if problem.get("field") else problem["message"])
                   for problem in result.get("errors") or []]
    return sorted(errors)


@bp.route("/cohorts/<cohort_id>/enrolments", methods=["GET", "POST"])
@console_required
def enrolments(cohort_id):
    client = api()
    values, row_errors, status = (request.form if request.method == "POST" else {}), [], 200
    imported = 0  # lines of a CSV the import enrolled although others were refused (changed after the dry run)
    if request.method == "POST" and request.form.get("form") == "one":
        try:
            client.post("matching", f"/v1/cohorts/{cohort_id}/enrollments", _enrolment_body(request.form))
        except (ApiError, ValueError) as error:
            report(error if isinstance(error, ApiError) else ApiError(422, "Invalid", str(error)))
            status = 422
        else:
            done("Enrolled.")
            return redirect(url_for(".enrolments", cohort_id=cohort_id))
    elif request.method == "POST":
        upload = request.files.get("file")
        text = upload.read().decode("utf-8-sig", errors="replace") if upload else ""
        count, row_errors = import_csv(client, cohort_id, text)
        if not row_errors:
            done(_("{count} enrolments imported.", count=count))
            return redirect(url_for(".enrolments", cohort_id=cohort_id))
        imported, status = count, 422
    filters = _enrolment_filters(request.args)
    page = {"limit": ENROLMENT_PAGE, **filters, **({"cursor": request.args["cursor"]} if request.args.get("cursor")
                                                    else {})}
    calls = parallel(cohort=lambda: client.get("matching", f"/v1/cohorts/{cohort_id}"),
                     stats=lambda: client.get("matching", f"/v1/cohorts/{cohort_id}/stats"),
                     listed=lambda: client.get("matching", f"/v1/cohorts/{cohort_id}/enrollments", **page))
    if isinstance(calls["cohort"], ApiError):
        raise calls["cohort"]
    listed = ok(calls["listed"], {}) or {}
    if isinstance(calls["listed"], ApiError):
        report(calls["listed"])
    return render_template("console/enrolments.html", cohort=calls["cohort"], stats=ok(calls["stats"], {}),
                           rows=listed.get("items") or [], next_cursor=listed.get("next"), paged=bool(
                               request.args.get("cursor")), filters=filters, values=values,
                           row_errors=row_errors, imported=imported, columns=CSV_COLUMNS), status


def _enrolment_filters(args) -> dict:
    """The table's filters as the API's query (`q`: an employee id prefix, as typed)."""
    filters = {"q": (args.get("q") or "").strip(), "role": args.get("role") or "", "status": args.get("status") or ""}
    return {name: value for name, value in filters.items() if value}


@bp.post("/cohorts/<cohort_id>/enrolments/<employee_id>")
@console_required
def edit_enrolment(cohort_id, employee_id):
    """Capacity (mentors) and pause from one row of the table; back to the same filtered page."""
    body: dict = {"paused": request.form.get("paused") == "on"}
    try:
        if request.form.get("role") == "mentor":
            body.update(_numbers(request.form, ("capacity",)))
        api().patch("matching", f"/v1/cohorts/{cohort_id}/enrollments/{employee_id}", body)
    except ApiError as error:
        report(error)
    else:
        done("Enrolment saved.")
    back = {name: request.form.get(f"back_{name}") for name in ("q", "role", "status")}
    return redirect(url_for(".enrolments", cohort_id=cohort_id, **_enrolment_filters(back)))


# -- matching --------------------------------------------------------------------------------------

@bp.route("/cohorts/<cohort_id>/matching", methods=["GET", "POST"])
@console_required
def matching(cohort_id):
    client = api()
    if request.method == "POST":
        dry_run = request.form.get("publish") != "yes"
        mode = request.form.get("mode") or "maximize_score"
        try:
            started = client.post("matching", f"/v1/cohorts/{cohort_id}/matching-runs", {"mode": mode, "dry_run": dry_run})
        except ApiError as error:
            report(error)
            return redirect(url_for(".matching", cohort_id=cohort_id))
        if started.get("status") == "running" or "proposals" not in started:
            return redirect(url_for(".run", run_id=started["run_id"], cohort_id=cohort_id))
        # the older synchronous answer: the whole result came back at once
        return _run_page(cohort_id, {**started, "status": "completed"})
    return render_template("console/matching.html", cohort=client.get("matching", f"/v1/cohorts/{cohort_id}"),
                           modes=MATCHING_MODES)


def _run_page(cohort_id: str, run: dict):
    client = api()
    proposals = sorted(run.get("proposals") or [], key=lambda p: -(p.get("score") or 0))
    shown = proposals[:200]
    ids = {p["mentor_id"] for p in shown} | {p["mentee_id"] for p in shown} | \
          {u["mentee_id"] for u in (run.get("unmatched") or [])[:100]}
    people = parallel(**{pid: (lambda pid=pid: profile(pid)) for pid in ids})
    names = {pid: (ok(value, {}) or {}).get("display_name") or pid for pid, value in people.items()}
    reasons = Counter(u.get("reason") for u in run.get("unmatched") or [])
    return render_template("console/run.html", run=run, cohort=client.get("matching", f"/v1/cohorts/{cohort_id}"),
                           proposals=shown, more=len(proposals) - len(shown), names=names,
                           unmatched=(run.get("unmatched") or [])[:100], reasons=reasons)


@bp.get("/runs/<run_id>")
@console_required
def run(run_id):
    result = api().get("matching", f"/v1/matching-runs/{run_id}")
    cohort_id = result.get("cohort_id") or request.args.get("cohort_id")
    if result.get("status") == "running":
        return render_template("console/run_running.html", run=result, cohort_id=cohort_id)
    return _run_page(cohort_id, result)


@bp.post("/cohorts/<cohort_id>/pairings")
@console_required
def manual_pairing(cohort_id):
    try:
        api().post("matching", f"/v1/cohorts/{cohort_id}/pairings",
                   {"mentor_id": request.form.get("mentor_id", "").strip(),
                    "mentee_id": request.form.get("mentee_id", "").strip()})
    except ApiError as error:
        report(error)
    else:
        done("Pairing proposed to both.")
    return redirect(url_for(".matching", cohort_id=cohort_id))


# -- health, export, chat, deliveries ----------------------------------------------------------------

@bp.get("/cohorts/<cohort_id>/health")
@console_required
def health(cohort_id):
    client = api()
    # Three calls side by side: the stats carry the cohort too (on 2 cores a fourth call costs ~25 %).
    calls = parallel(stats=lambda: client.get("matching", f"/v1/cohorts/{cohort_id}/stats"),
                     engagement=lambda: client.optional("sessions", f"/v1/cohorts/{cohort_id}/engagement", default={}),
                     feedback=lambda: client.optional("feedback", f"/v1/cohorts/{cohort_id}/feedback/summary", default={}))
    if isinstance(calls["stats"], ApiError):
        raise calls["stats"]
    stats = dict(calls["stats"])
    cohort = stats.pop("cohort", None) or client.get("matching", f"/v1/cohorts/{cohort_id}")  # an older matching
    engagement = ok(calls["engagement"], {}) or {}
    items = engagement.get("items") or []
    by_status = Counter(i.get("status") for i in items)
    status_chart = bar_chart(_("Active pairs by health"), [(_(s.replace("_", " ")), by_status.get(s, 0))
                                                          for s in HEALTH_COLORS],
                             colors={_(s.replace("_", " ")): c for s, c in HEALTH_COLORS.items()})
    weekly = (engagement.get("summary") or {}).get("meetings_held_by_week") or {}
    if isinstance(weekly, dict):
        weeks = sorted(weekly.items())[-12:]
    else:
        weeks = [(w.get("week"), w.get("count", 0)) for w in weekly][-12:]
    if not weeks:
        held = Counter()
        for item in items:
            if item.get("last_meeting_at"):
                held[item["last_meeting_at"][:10]] += item.get("meetings_held", 0)
        weeks = sorted(held.items())[-12:]
    weeks_chart = column_chart(_("Meetings held per week"), weeks)
    feedback = ok(calls["feedback"], {}) or {}
    at_risk = [i for i in items if i.get("status") in ("at_risk", "needs_check_in")]
    # the active pairs as sessions sees them (each with its health), not another listing from matching
    active_pairs = items[:ACTIVE_SHOWN]
    people_ids = {p for i in at_risk[:50] for p in (i["mentor_id"], i["mentee_id"])} | \
                 {p for a in active_pairs for p in (a["mentor_id"], a["mentee_id"])}
    people = parallel(**{pid: (lambda pid=pid: profile(pid)) for pid in people_ids})
    names = {pid: (ok(v, {}) or {}).get("display_name") or pid for pid, v in people.items()}
    return render_template("console/health.html", cohort=cohort, stats=stats,
                           engagement=engagement, status_chart=status_chart, weeks_chart=weeks_chart,
                           feedback=feedback, at_risk=at_risk, active_pairs=active_pairs, names=names,
                           by_status=by_status)


@bp.get("/cohorts/<cohort_id>/export.csv")
@console_required
def export(cohort_id):
    upstream = api().raw("feedback", f"/v1/cohorts/{cohort_id}/feedback/export.csv")
    return Response(upstream.content, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="cohort-{cohort_id}.csv"'})


@bp.route("/cohorts/<cohort_id>/chat", methods=["GET", "POST"])
@console_required
def chat(cohort_id):
    client = api()
    if request.method == "POST":
        try:
            client.put("notifications", f"/v1/cohorts/{cohort_id}/chat-channel",
                       {"chat_webhook_url": request.form.get("chat_webhook_url") or None})
        except ApiError as error:
            report(error)
        else:
            done("Chat channel saved.")
            return redirect(url_for(".chat", cohort_id=cohort_id))
    channel = client.optional("notifications", f"/v1/cohorts/{cohort_id}/chat-channel", default={}) or {}
    return render_template("console/chat.html", cohort=client.get("matching", f"/v1/cohorts/{cohort_id}"),
                           channel=channel)


@bp.get("/deliveries")
@console_required
def deliveries():
    event_id = request.args.get("event_id", "").strip()
    log = None
    if event_id:
        try:
            log = api().get("notifications", f"/v1/events/{event_id}/deliveries")
        except ApiError as error:
            report(error)
    return render_template("console/deliveries.html", event_id=event_id, log=log)
