"""HTTP: participant profiles built from HRIS events."""
from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from shared.http.auth import current_principal, require
from shared.http.problems import ProblemError
from services.matching.application.participants import public_profile

blp = Blueprint("participants", __name__, url_prefix="/v1", description="Participant profiles from the HRIS")


class ParticipantSchema(Schema):
    employee_id = fields.String()
    status = fields.String(metadata={"description": "active or terminated"})
    terminated_on = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    display_name = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    level = fields.Integer(allow_none=True)
    manager_id = fields.String(allow_none=True)
    location = fields.String(allow_none=True)
    timezone = fields.String(allow_none=True)
    languages = fields.List(fields.String())
    skills = fields.List(fields.String())
    hire_date = fields.String(allow_none=True)
    updated_at = fields.String(allow_none=True)


@blp.route("/participants/<employee_id>")
@blp.response(200, ParticipantSchema)
@require()
def get_participant(employee_id: str):
    """A participant's profile as the HRIS last described it (any authenticated employee)."""
    current_principal()
    doc = current_app.extensions["matching"].participants.get(employee_id)
    if doc is None:
        raise ProblemError(404, "Not Found", f"no employee {employee_id} is known from the HRIS")
    return public_profile(doc)
