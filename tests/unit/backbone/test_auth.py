"""JWT authentication, roles and problem+json on a service app (Flask test client, no servers needed)."""
from __future__ import annotations

import time

import jwt
import pytest
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from shared.config import Settings
from shared.http.app import create_service_app
from shared.http.auth import current_principal, mint_token, require

SECRET = "unit-test-secret-0123456789abcdef0123456789"

blp = Blueprint("things", __name__, url_prefix="/v1")


class ThingSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1))
    size = fields.Integer(required=True, validate=validate.Range(min=1, max=5))


@blp.route("/things", methods=["POST"])
@blp.arguments(ThingSchema)
@blp.response(201, ThingSchema)
@require("admin")
def create_thing(body):
    return body


@blp.route("/me")
@require()
def me():
    principal = current_principal()
    return {"sub": principal.subject, "roles": sorted(principal.roles)}


@pytest.fixture
def client():
    settings = Settings(service_name="unit", jwt_secret=SECRET, environment="development")
    app = create_service_app(settings, title="unit", blueprints=[blp], readiness_checks={"always": lambda: True})
    return app.test_client()


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_missing_and_invalid_tokens_are_401_problems(client):
    response = client.get("/v1/me")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.json["title"] and response.json["status"] == 401
    assert client.get("/v1/me", headers=_auth("garbage")).status_code == 401
    wrong_key = mint_token("another-secret-another-secret-0123456789", "E1", ["admin"])
    assert client.get("/v1/me", headers=_auth(wrong_key)).status_code == 401


def test_expired_and_exp_less_tokens_are_rejected(client):
    expired = jwt.encode({"sub": "E1", "roles": ["admin"], "exp": int(time.time()) - 10}, SECRET, algorithm="HS256")
    assert client.get("/v1/me", headers=_auth(expired)).status_code == 401
    no_exp = jwt.encode({"sub": "E1", "roles": ["admin"]}, SECRET, algorithm="HS256")
    assert client.get("/v1/me", headers=_auth(no_exp)).status_code == 401


def test_roles_gate_routes_with_403(client):
    participant = mint_token(SECRET, "E1", ["participant"])
    admin = mint_token(SECRET, "E2", ["admin"])
    assert client.get("/v1/me", headers=_auth(participant)).json == {"sub": "E1", "roles": ["participant"]}
    forbidden = client.post("/v1/things", json={"name": "a", "size": 1}, headers=_auth(participant))
    assert forbidden.status_code == 403 and forbidden.mimetype == "application/problem+json"
    assert client.post("/v1/things", json={"name": "a", "size": 1}, headers=_auth(admin)).status_code == 201


def test_validation_errors_are_422_naming_each_bad_field_and_unknown_ones(client):
    admin = mint_token(SECRET, "E2", ["admin"])
    response = client.post("/v1/things", json={"name": "", "size": 9, "colour": "red"}, headers=_auth(admin))
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert set(response.json["errors"]) == {"name", "size", "colour"}


def test_issuer_and_audience_are_checked_when_configured():
    settings = Settings(service_name="unit", jwt_secret=SECRET, jwt_issuer="https://idp.example", jwt_audience="mentoring",
                        environment="development")
    app = create_service_app(settings, title="unit", blueprints=[blp], readiness_checks={})
    client = app.test_client()
    good = mint_token(SECRET, "E1", ["participant"], issuer="https://idp.example", audience="mentoring")
    bad_aud = mint_token(SECRET, "E1", ["participant"], issuer="https://idp.example", audience="other")
    no_iss = mint_token(SECRET, "E1", ["participant"], audience="mentoring")
    assert client.get("/v1/me", headers=_auth(good)).status_code == 200
    assert client.get("/v1/me", headers=_auth(bad_aud)).status_code == 401
    assert client.get("/v1/me", headers=_auth(no_iss)).status_code == 401


def test_health_readiness_metrics_openapi_and_request_ids(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json["status"] == "ready"
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    client.get("/v1/me")
    metrics = client.get("/metrics").data.decode()
    assert 'http_request_duration_seconds_count{method="GET",route="/v1/me",service="unit",status="401"}' in metrics
    spec = client.get("/openapi.json").json
    assert "/v1/things" in spec["paths"]
    assert "ThingSchema" in str(spec["components"]["schemas"]) or "Thing" in str(spec["components"]["schemas"])
