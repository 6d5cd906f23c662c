"""`GET /v1/people/{employee_id}/export` (GDPR Art. 15, issue 13): one blueprint every service mounts.

The person themselves or an admin (401 without a token, 403 `not_the_person` for anyone else,
integration clients included: an export is a person's whole record, no machine client needs it).
What is in it is the service's own decision (`services/<svc>/application/export.py`); this only
guards the door and serves the JSON. docs/api-privacy.md describes the document.
"""
from __future__ import annotations

from typing import Callable

import pymongo
from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from shared.errors import Forbidden
from shared.http.auth import current_principal, require

# An export scans each of the service's views on FerretDB v1 (measured: a 75,000-document view
# took 97 s on a saturated 2-core machine, ~10 s at load 8): longer than the 30 s socket timeout
# that guards every other request. An export is rare, so its queries get this deadline instead.
EXPORT_DEADLINE_S = 300


class PersonExportOut(Schema):
    format = fields.String(metadata={"description": "mentoring.person-export.v1"})
    service = fields.String()
    employee_id = fields.String()
    generated_at = fields.String()
    data = fields.Dict(metadata={"description": "what the service holds about the person, by collection"})
    events = fields.List(fields.Dict(), metadata={"description": "the events of the person's streams, "
                                                                 "with the private parts they authored"})
    withheld = fields.List(fields.String(), metadata={"description": "what is deliberately left out, and why"})


def person_export_blueprint(service: str, export: Callable[[object, str], dict]) -> Blueprint:
    """A blueprint serving `export(context, employee_id)`, the context being `app.extensions[service]`."""
    blp = Blueprint(f"{service}-export", __name__, url_prefix="/v1",
                    description="Subject access export (GDPR Art. 15)")

    @blp.route("/people/<employee_id>/export")
    @require()
    @blp.response(200, PersonExportOut)
    def person_export(employee_id: str):
        """Everything this service holds about the person: the person themselves or an admin."""
        if not current_principal().can_act_for(employee_id):
            raise Forbidden("not_the_person", "only the person themselves and admins may export their data")
        with pymongo.timeout(EXPORT_DEADLINE_S):
            return export(current_app.extensions[service], employee_id)

    return blp
