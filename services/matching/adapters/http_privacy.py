"""HTTP: `POST /v1/privacy/erasures` and `GET /v1/privacy/erasures/{employee_id}` (GDPR Art. 17,
contract §6; docs/api-privacy.md).

Platform admins only (a programme's managers may not erase anyone: a person is not a programme's).
The request is recorded on the person's erasure stream and answered 202 with it; the worker's
erasure processor does the work (services/matching/application/erasure.py) and every service
then publishes `PersonErased`. Asking again answers with the first request (its status by then).
"""
from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from shared.errors import NotFound
from shared.http.app import request_causation
from shared.http.auth import current_principal, require

privacy_blp = Blueprint("privacy", __name__, url_prefix="/v1", description="Erasure of a person (GDPR Art. 17)")


class ErasureIn(Schema):
    employee_id = fields.String(required=True, validate=validate.Length(min=1, max=100))


class ErasureOut(Schema):
    employee_id = fields.String()
    status = fields.String(metadata={"description": "requested | erased (matching's own data; the other "
                                                    "services follow with their own PersonErased)"})
    source = fields.String(metadata={"description": "api | hris"})
    requested_at = fields.String()
    requested_by = fields.String(allow_none=True)
    erased_at = fields.String(allow_none=True)


@privacy_blp.route("/privacy/erasures", methods=["POST"])
@require("admin")
@privacy_blp.arguments(ErasureIn)
@privacy_blp.response(202, ErasureOut)
def request_erasure(body):
    """Erase a person everywhere (platform admins): 202 with the request; a repeat answers with the first."""
    context = current_app.extensions["matching"]
    return context.erasures.request(body["employee_id"], source="api", requested_at=None,
                                    requested_by=current_principal().subject, causation=request_causation())


@privacy_blp.route("/privacy/erasures/<employee_id>", methods=["GET"])
@require("admin")
@privacy_blp.response(200, ErasureOut)
def erasure_status(employee_id):
    """Where a person's erasure stands (platform admins): requested, or erased in matching; 404 if never asked."""
    found = current_app.extensions["matching"].erasures.status(employee_id)
    if found is None:
        raise NotFound("erasure_unknown", f"no erasure of {employee_id} was requested")
    return found
