"""The shared Flask factory: one error model, safe request ids, bounded bodies (no servers)."""
from __future__ import annotations

import secrets

from flask import Blueprint

from shared.config import Settings
from shared.errors import Conflict, Invalid, NotFound
from shared.http.app import MAX_REQUEST_BYTES, create_service_app


def _client():
    blueprint = Blueprint("probe", __name__)

    @blueprint.post("/v1/probe/<kind>")
    def probe(kind):
        from flask import request

        request.get_data()
        if kind == "invalid":
            raise Invalid("capacity_too_high", "capacity may be at most 3", field="capacity")
        if kind == "conflict":
            raise Conflict("stale_revision", "goals changed since revision 2", current_revision=3)
        if kind == "missing":
            raise NotFound("no_such_pairing", "no pairing p-1")
        if kind == "crash":
            raise RuntimeError("a bug")
        if kind == "json":
            return {"got": request.get_json()}
        if kind == "header":
            return {"ok": True}, 200, {"Content-Disposition": f'attachment; filename="{request.args["name"]}.csv"'}
        return {"ok": True}

    @blueprint.get("/v1/files/<file_id>")
    def file(file_id):
        return {"file_id": file_id}

    settings = Settings(service_name="probe", jwt_secret=secrets.token_urlsafe(32), environment="development")
    app = create_service_app(settings, title="probe", blueprints=[], readiness_checks={},
                             configure=lambda app: app.register_blueprint(blueprint))
    return app.test_client()


def test_domain_errors_become_problem_documents_naming_code_and_field():
    client = _client()
    invalid = client.post("/v1/probe/invalid", json={})
    assert invalid.status_code == 422 and invalid.content_type == "application/problem+json"
    assert invalid.json["code"] == "capacity_too_high"
    assert invalid.json["errors"] == {"capacity": ["capacity may be at most 3"]}
    conflict = client.post("/v1/probe/conflict", json={})
    assert conflict.status_code == 409 and conflict.json["current_revision"] == 3
    assert client.post("/v1/probe/missing", json={}).status_code == 404


def test_client_request_ids_are_kept_only_when_they_are_short_safe_tokens():
    client = _client()
    assert client.get("/healthz", headers={"X-Request-ID": "req-4711"}).headers["X-Request-ID"] == "req-4711"
    for hostile in ("two words", "<script>", "a" * 200, "id;drop"):
        echoed = client.get("/healthz", headers={"X-Request-ID": hostile}).headers["X-Request-ID"]
        assert echoed != hostile and len(echoed) == 36  # replaced by a fresh UUID


def test_oversized_bodies_are_refused_with_413_problem_json():
    client = _client()
    response = client.post("/v1/probe/ok", data=b"x" * (MAX_REQUEST_BYTES + 1), content_type="application/json")
    assert response.status_code == 413 and response.content_type == "application/problem+json"
    assert client.post("/v1/probe/ok", json={"small": True}).status_code == 200


def _is_problem(response, status: int) -> bool:
    body = response.get_json(force=True, silent=True) or {}
    return (response.status_code == status and response.content_type == "application/problem+json"
            and body.get("status") == status and bool(body.get("title")))


def test_unknown_routes_wrong_methods_and_odd_paths_answer_problem_json():
    client = _client()
    assert _is_problem(client.get("/v1/nothing-here"), 404)
    assert _is_problem(client.get("/v1/probe/ok"), 405)
    assert "POST" in client.get("/v1/probe/ok").headers["Allow"]
    assert _is_problem(client.delete("/healthz"), 405)
    assert client.get("/v1/files/caf\u00e9-\u65e5\u672c").json == {"file_id": "caf\u00e9-\u65e5\u672c"}
    assert _is_problem(client.get("/v1/nothing/caf%C3%A9%FF%00"), 404)  # not UTF-8, a NUL byte


def test_malformed_bodies_answer_400_problem_json():
    client = _client()
    for body in (b"{not json", b"\xff\xfe\x00", b'{"a": '):
        assert _is_problem(client.post("/v1/probe/json", data=body, content_type="application/json"), 400)
    assert client.post("/v1/probe/json", json={"a": 1}).json == {"got": {"a": 1}}


def test_a_bug_answers_500_problem_json_without_the_traceback():
    client = _client()
    response = client.post("/v1/probe/crash", json={})
    assert _is_problem(response, 500) and "a bug" not in response.get_data(as_text=True)
    assert response.headers["X-Request-ID"]


def test_a_header_the_server_could_not_send_answers_500_problem_json_not_the_servers_html_page():
    client = _client()
    assert client.post("/v1/probe/header?name=cohort-1", json={}).status_code == 200
    # non-latin-1 text in a header: gunicorn would refuse it and send its own HTML 500 page
    assert _is_problem(client.post("/v1/probe/header?name=\u65e5\u672c", json={}), 500)
