"""HTTP: `POST /v1/privacy/erasures`, `GET /v1/privacy/erasures/{employee_id}` and the list
`GET /v1/privacy/erasures` (GDPR Art. 17, contract §6; docs/api-privacy.md, docs/api-erasures.md).

Platform admins only (a programme's managers may not erase anyone: a person is not a programme's).
The request is recorded on the person's erasure stream and answered 202 with it; the worker's
erasure processor does the work (services/matching/application/erasure.py) and every service
then publishes `PersonErased`. Asking again answers with the first request (its status by then).
Each answer also says how far every service has got (application/erasure_progress.py): ids and
times only, never the person's personal data.
"""
from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from shared.errors import NotFound
from shared.http.app import request_causation
from shared.http.auth import current_principal, require

from services.matching.application.erasure_progress import MAX_PAGE

privacy_blp = Blueprint("privacy", __name__, url_prefix="/v1", description="Erasure of a person (GDPR Art. 17)")


class ErasureIn(Schema):
    employee_id = fields.String(required=True, validate=validate.Length(min=1, max=100))


class ServiceProgressOut(Schema):
    service = fields.String()
    status = fields.String(metadata={"description": "erased | pending"})
    erased_at = fields.String(allow_none=True)


class ErasureOut(Schema):
    employee_id = fields.String()
    status = fields.String(metadata={"description": "requested | erased (matching's own data; the other "
                                                    "services follow with their own PersonErased)"})
    source = fields.String(metadata={"description": "api | hris"})
    requested_at = fields.String()
    requested_by = fields.String(allow_none=True)
    erased_at = fields.String(allow_none=True)
    services = fields.List(fields.Nested(ServiceProgressOut), metadata={
        "description": "each service's part, in the order matching, sessions, feedback, notifications"})
    complete = fields.Boolean(metadata={"description": "every service has published its PersonErased"})
    overdue = fields.Boolean(metadata={"description": "not complete ERASURE_OVERDUE_S (60 s) after the request"})


class ErasureListQuery(Schema):
    cursor = fields.String(validate=validate.Regexp(r"^[0-9]{1,12}$"))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE))


class ErasureListItem(Schema):
    employee_id = fields.String()
    source = fields.String()
    requested_at = fields.String()
    requested_by = fields.String(allow_none=True)
    complete = fields.Boolean()


class ErasurePage(Schema):
    items = fields.List(fields.Nested(ErasureListItem))
    next = fields.String(allow_none=True)


@privacy_blp.route("/privacy/erasures", methods=["POST"])
@require("admin")
@privacy_blp.arguments(ErasureIn)
@privacy_blp.response(202, ErasureOut)
def request_erasure(body):
    """Erase a person everywhere (platform admins): 202 with the request; a repeat answers with the first."""
    context = current_app.extensions["matching"]
    requested = context.erasures.request(body["employee_id"], source="api", requested_at=None,
                                         requested_by=current_principal().subject, causation=request_causation())
    return context.erasure_status.describe(requested)


@privacy_blp.route("/privacy/erasures", methods=["GET"])
@require("admin")
@privacy_blp.arguments(ErasureListQuery, location="query")
@privacy_blp.response(200, ErasurePage)
def list_erasures(query):
    """Every erasure requested, newest first (platform admins); `next` is the cursor of the next page."""
    return current_app.extensions["matching"].erasure_status.page(query.get("cursor"), query["limit"])


@privacy_blp.route("/privacy/erasures/<employee_id>", methods=["GET"])
@require("admin")
@privacy_blp.response(200, ErasureOut)
def erasure_status(employee_id):
    """Where a person's erasure stands in each service (platform admins); 404 if never asked."""
    found = current_app.extensions["matching"].erasure_status.of(employee_id)
    if found is None:
        raise NotFound("erasure_unknown", f"no erasure of {employee_id} was requested")
    return found
