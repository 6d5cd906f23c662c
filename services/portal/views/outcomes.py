"""A programme's outcomes in the console: did it make a difference? (matching's
`GET /v1/programs/{id}/outcomes`: promotion and retention of its mentees against matched peers).

Its own page, linked from the programme's: the first answer of a day reads the whole directory,
which the programme page's other readers should not wait for."""
from __future__ import annotations

from flask import Blueprint, render_template

from services.portal import directory as listing
from services.portal.managers import console_required
from services.portal.views.common import api, ok, parallel

bp = Blueprint("outcomes", __name__, url_prefix="/console")


def percent(value) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


@bp.route("/programs/<program_id>/outcomes")
@console_required
def program_outcomes(program_id):
    client = api()
    calls = parallel(program=lambda: listing.program(client, program_id),
                     outcomes=lambda: client.get("matching", f"/v1/programs/{program_id}/outcomes"))
    if not isinstance(calls["outcomes"], dict):
        raise calls["outcomes"]  # the API's refusal (403, 404) or failure, shown as such
    return render_template("console/outcomes.html", program=ok(calls["program"], {"program_id": program_id}),
                           outcomes=calls["outcomes"], percent=percent)
