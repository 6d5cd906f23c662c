"""Mentee choice (issue 15): "Choose a mentor" — a mentee's best mentors with their cards, why
they fit and the seats they have left, and a request with a message to the one they pick.

The page is matching's `GET /v1/cohorts/{id}/suggestions` as the mentee's own token gets it; the
request is `POST /v1/cohorts/{id}/requests`, after which the mentee lands on the proposal (the
mentor accepts or declines it there; the proposal shows the mentor the message and goals summary).
"""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from services.portal.backend import ApiError
from services.portal.oidc import login_required
from services.portal.views.common import api, done, ok, parallel, report

bp = Blueprint("choice", __name__)

CHOICE_STYLES = ("mentee_choice", "both")  # a cohort's matching_style letting mentees choose
SUGGESTIONS = 10
MAX_MESSAGE = 2000


def choosing(cohorts: list[dict]) -> list[dict]:
    """The cohorts whose mentees choose their mentor now (home links each to its page)."""
    return [c for c in cohorts if c.get("matching_style") in CHOICE_STYLES and c.get("status") in ("matching", "active")]


@bp.get("/cohorts/<cohort_id>/choose")
@login_required
def choose(cohort_id):
    client = api()
    calls = parallel(cohort=lambda: client.get("matching", f"/v1/cohorts/{cohort_id}"),
                     found=lambda: client.get("matching", f"/v1/cohorts/{cohort_id}/suggestions", limit=SUGGESTIONS))
    cohort = ok(calls["cohort"], {}) or {"cohort_id": cohort_id}
    found, refused = calls["found"], None
    if isinstance(found, ApiError):
        if found.status not in (403, 404, 409):
            raise found
        found, refused = {"items": []}, found
    return render_template("choose.html", cohort=cohort, found=found, refused=refused, max_message=MAX_MESSAGE,
                           message=request.args.get("message", ""))


@bp.post("/cohorts/<cohort_id>/requests")
@login_required
def ask(cohort_id):
    body = {"mentor_id": request.form.get("mentor_id") or "",
            "message": (request.form.get("message") or "").strip()[:MAX_MESSAGE] or None}
    try:
        pairing = api().post("matching", f"/v1/cohorts/{cohort_id}/requests", body)
    except ApiError as error:
        report(error)
        return redirect(url_for(".choose", cohort_id=cohort_id))
    done("Your request is on its way. We will tell you when your mentor has answered.")
    return redirect(url_for("participant.pairing", pairing_id=pairing["pairing_id"]))
