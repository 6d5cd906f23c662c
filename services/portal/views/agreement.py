"""My pairing's agreement (edit, confirm) and its goals' milestones and action items (add, tick done,
mark a goal achieved): the forms on the pairing page, each answered by a redirect back to it.

The sessions API decides everything; a 409 (the other party changed the agreement or the goals
since this page was drawn) is explained in the person's language, not shown as the API's text.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for

from shared.events.catalog.sessions import AGREEMENT_CHANNELS, AGREEMENT_CONFIDENTIALITY
from services.portal.backend import ApiError
from services.portal.i18n import gettext as _
from services.portal.oidc import login_required
from services.portal.views.common import api, done, me, report

bp = Blueprint("agreement", __name__)

CHANNELS = AGREEMENT_CHANNELS
CONFIDENTIALITY = AGREEMENT_CONFIDENTIALITY
ITEM_KINDS = ("milestones", "action_items")


def page_context(pairing: dict, agreement: dict | None) -> dict:
    """What the pairing page shows of the agreement: the person's own expectations for the form,
    the other's, whether the person still has to confirm, and the cadence in force (else None)."""
    agreement = agreement or {"revision": 0, "expectations": {}, "confirmed_by": [], "in_force": None}
    words = agreement.get("expectations") or {}
    other = pairing["mentee_id"] if me() == pairing["mentor_id"] else pairing["mentor_id"]
    in_force = agreement.get("in_force") or {}
    return {"agreement": agreement, "my_expectations": words.get(me(), []), "their_expectations": words.get(other, []),
            "i_confirmed": me() in (agreement.get("confirmed_by") or []),
            "they_confirmed": other in (agreement.get("confirmed_by") or []),
            "agreed_cadence": in_force.get("cadence_days"), "channels": CHANNELS, "confidentiality_levels": CONFIDENTIALITY}


def _back(pairing_id: str, anchor: str):
    return redirect(url_for("participant.pairing", pairing_id=pairing_id) + f"#{anchor}")


def _int(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# -- the agreement ----------------------------------------------------------------------------------

@bp.post("/pairings/<pairing_id>/agreement")
@login_required
def save(pairing_id):
    form = request.form
    expectations = [line.strip() for line in (form.get("expectations") or "").splitlines() if line.strip()]
    body = {"expected_revision": _int(form.get("expected_revision")), "cadence_days": _int(form.get("cadence_days")),
            "channel": form.get("channel"), "confidentiality": form.get("confidentiality"),
            "expectations": expectations}
    try:
        api().put("sessions", f"/v1/pairings/{pairing_id}/agreement", body)
    except ApiError as error:
        if error.status == 409 and error.code == "stale_revision":
            flash(_("Your partner changed the agreement while you were editing. Read their version and save yours again."),
                  "error")
        else:
            report(error)
    else:
        done("Agreement saved. It is in force once both of you have confirmed it.")
    return _back(pairing_id, "h-agreement")


@bp.post("/pairings/<pairing_id>/agreement/confirm")
@login_required
def confirm(pairing_id):
    try:
        result = api().post("sessions", f"/v1/pairings/{pairing_id}/agreement/confirm",
                            {"revision": _int(request.form.get("revision"), 1)})
    except ApiError as error:
        if error.status == 409 and error.code == "stale_revision":
            flash(_("The agreement changed since you read it. Read the current version and confirm again."), "error")
        else:
            report(error)
    else:
        done("You both confirmed: the agreement is in force." if result.get("confirmed")
             else "You confirmed the agreement. It is in force once your partner confirms it too.")
    return _back(pairing_id, "h-agreement")


# -- goals: milestones, action items, achieved -----------------------------------------------------------

def _revise_goal(pairing_id: str, goal_id: str, change) -> None:
    """Apply `change(goal)` to one goal of the revision this page showed, and store it as the next one."""
    def change_one(goals: list[dict]) -> bool:
        goal = next((g for g in goals if g["goal_id"] == goal_id), None)
        if goal is None:
            flash(_("Someone changed the goals while you were editing."), "error")
            return False
        change(goal)
        return True
    _revise_goals(pairing_id, _int(request.form.get("expected_revision")), change_one)


def update_progress(pairing_id: str, form) -> None:
    """A progress review's per-goal progress (`progress_<goal_id>`, 0-100) as a goals revision, when
    any differs from the revision the review page showed (`goals_revision`)."""
    wanted = {name.removeprefix("progress_"): _int(value, -1) for name, value in form.items()
              if name.startswith("progress_") and value != ""}
    if not wanted or "goals_revision" not in form:
        return

    def change(goals: list[dict]) -> bool:
        changed = False
        for goal in goals:
            progress = wanted.get(goal["goal_id"], -1)
            if 0 <= progress <= 100 and progress != goal.get("progress"):
                goal["progress"], changed = progress, True
        return changed
    _revise_goals(pairing_id, _int(form.get("goals_revision")), change)


def _revise_goals(pairing_id: str, expected: int, change) -> None:
    """`change(goals)` on the revision the page showed (False: nothing to store), stored as the next one;
    a revision stored since is explained, never overwritten."""
    client = api()
    current = client.get("sessions", f"/v1/pairings/{pairing_id}/goals")
    if current["revision"] != expected:
        flash(_("Someone changed the goals while you were editing."), "error")
        return
    if not change(current["goals"]):
        return
    try:
        client.put("sessions", f"/v1/pairings/{pairing_id}/goals", {"expected_revision": expected, "goals": [
            {name: g.get(name) for name in ("goal_id", "title", "status", "target_date", "progress", *ITEM_KINDS)}
            for g in current["goals"]]})
    except ApiError as error:
        if error.status == 409:
            flash(_("Someone changed the goals while you were editing."), "error")
        else:
            report(error)
    else:
        done("Goals saved.")


@bp.post("/pairings/<pairing_id>/goals/<goal_id>/items")
@login_required
def add_item(pairing_id, goal_id):
    form = request.form
    kind = form.get("kind") if form.get("kind") in ITEM_KINDS else "action_items"
    item = {"text": (form.get("text") or "").strip(), "owner_id": form.get("owner_id") or me(),
            "due_on": form.get("due_on") or None, "done": False}
    _revise_goal(pairing_id, goal_id, lambda goal: goal.__setitem__(kind, [*(goal.get(kind) or []), item]))
    return _back(pairing_id, f"goal-{goal_id}")


@bp.post("/pairings/<pairing_id>/goals/<goal_id>/items/<item_id>")
@login_required
def tick_item(pairing_id, goal_id, item_id):
    done_now = request.form.get("done") == "on"

    def change(goal):
        for kind in ITEM_KINDS:
            goal[kind] = [dict(item, done=done_now) if item["item_id"] == item_id else item
                          for item in goal.get(kind) or []]
    _revise_goal(pairing_id, goal_id, change)
    return _back(pairing_id, f"goal-{goal_id}")


@bp.post("/pairings/<pairing_id>/goals/<goal_id>/achieve")
@login_required
def achieve(pairing_id, goal_id):
    try:
        api().post("sessions", f"/v1/pairings/{pairing_id}/goals/{goal_id}/achieve", {})
    except ApiError as error:
        report(error)
    else:
        done("Goal marked as achieved. Well done!")
    return _back(pairing_id, f"goal-{goal_id}")
