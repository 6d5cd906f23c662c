"""Privacy in the console (platform admins only): erase a person (GDPR Art. 17) and follow it.

Erasing cannot be undone, so it takes two steps: the id, then the same id typed again (a mismatch
erases nobody). The request goes to matching (`POST /v1/privacy/erasures`); the status page shows
each service's part from `GET /v1/privacy/erasures/{employee_id}` (ids and times only: the person's
name is exactly what is being erased) and reloads itself until all four are done. The list is
`GET /v1/privacy/erasures`, newest first. Programme managers get 403 here, as from the API."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from services.portal.backend import ApiError
from services.portal.oidc import admin_required
from services.portal.views.common import api, done, report

bp = Blueprint("privacy", __name__, url_prefix="/console/privacy")

LIST_PAGE = 20
REFRESH_S = 5  # the status page reloads this often until the erasure is complete


@bp.route("/", methods=["GET", "POST"])
@admin_required
def erasures():
    client = api()
    if request.method == "POST":
        employee_id = request.form.get("employee_id", "").strip()
        if request.form.get("step") == "erase":
            if request.form.get("confirm", "").strip() != employee_id:
                report(ApiError(422, "Invalid", errors={"confirm": ["the two ids differ: nobody was erased"]}))
                return render_template("console/privacy_confirm.html", employee_id=employee_id), 422
            try:
                client.post("matching", "/v1/privacy/erasures", {"employee_id": employee_id})
            except ApiError as error:
                report(error)
            else:
                done("Erasure requested.")
                return redirect(url_for(".erasure", employee_id=employee_id))
        elif employee_id:
            return render_template("console/privacy_confirm.html", employee_id=employee_id)
        else:
            report(ApiError(422, "Invalid", errors={"employee_id": ["an employee id is needed"]}))
    params = {"limit": LIST_PAGE, **({"cursor": request.args["cursor"]} if request.args.get("cursor") else {})}
    return render_template("console/privacy.html", listing=client.get("matching", "/v1/privacy/erasures", **params))


@bp.get("/<employee_id>")
@admin_required
def erasure(employee_id):
    found = api().get("matching", f"/v1/privacy/erasures/{employee_id}")
    return render_template("console/privacy_status.html", erasure=found, refresh_s=REFRESH_S)
