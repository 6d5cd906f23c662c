"""RFC 9457 problem details: every error the services answer."""
from __future__ import annotations

from flask import Response, json
from marshmallow import INCLUDE, Schema, fields


class ProblemSchema(Schema):
    """How /openapi.json documents every error: an RFC 9457 problem document (extension members
    such as `code` and `errors`, field name -> messages, are allowed beside the standard ones)."""

    class Meta:
        unknown = INCLUDE

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    code = fields.String()
    errors = fields.Dict()


class ProblemError(Exception):
    def __init__(self, status: int, title: str, detail: str | None = None, *, errors: dict | None = None,
                 headers: dict | None = None, **extra):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


def problem_response(status: int, title: str, detail: str | None = None, *, errors: dict | None = None,
                     headers: dict | None = None, **extra) -> Response:
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_webargs_errors(errors: dict) -> dict:
    """webargs nests messages by location ({"json": {...}}); name the fields directly."""
    if not isinstance(errors, dict):
        return {"_schema": errors}
    merged: dict = {}
    for location, messages in errors.items():
        if location in ("json", "query", "form", "path", "view_args", "headers") and isinstance(messages, dict):
            merged.update(messages)
        else:
            merged[location] = messages
    return merged
