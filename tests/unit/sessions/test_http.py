"""The sessions HTTP layer on in-memory adapters (no servers): disputes and request bounds.

The app is the real blueprint and error handling; the context is the one of test_application
(FakeDatabase, InMemoryEventStore, a ManualClock). Views are caught up by hand.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from shared.http.app import create_service_app
from shared.http.auth import mint_token
from services.sessions.adapters.http import blp
from shared.http.scopes import install_scopes
from shared.scopes import ProgrammeScopeReader
from tests.unit.sessions.test_application import NOW, context

SECRET = "unit-test-secret-unit-test-secret"


@pytest.fixture
def app():
    ctx = context()
    ctx.settings = replace(ctx.settings, jwt_secret=SECRET, environment="development", read_your_writes_timeout_s=0)

    def configure(flask_app):
        flask_app.extensions["sessions"] = ctx
        install_scopes(flask_app, ProgrammeScopeReader(ctx.database))  # as services/sessions/api.py does

    flask_app = create_service_app(ctx.settings, title="sessions", blueprints=[blp], readiness_checks={},
                                   configure=configure)
    return ctx, flask_app.test_client()


def who(subject, *roles):
    return {"Authorization": "Bearer " + mint_token(SECRET, subject, list(roles or ["participant"]))}


MENTOR, MENTEE = who("mentor-1"), who("mentee-1")


def test_the_other_party_disputes_a_record_and_the_meeting_view_shows_it(app):
    ctx, client = app
    created = client.post("/v1/pairings/p1/meetings", headers=MENTOR,
                          json={"starts_at": (NOW + timedelta(hours=1)).isoformat(), "duration_minutes": 30})
    assert created.status_code == 201, created.get_json()
    meeting_id = created.get_json()["meeting_id"]
    url = f"/v1/meetings/{meeting_id}/dispute"
    reason = {"reason": "He never came; I waited 30 minutes."}
    assert client.post(url, json=reason, headers=MENTEE).status_code == 409  # nothing recorded yet
    ctx.clock.advance(hours=2)
    held = client.post(f"/v1/meetings/{meeting_id}/complete", json={}, headers=MENTOR)
    assert held.status_code == 200 and held.get_json()["recorded_by"] == "mentor-1"
    assert held.get_json()["disputed"] is None
    ctx.projector.catch_up()
    engagement = client.get("/v1/cohorts/c1/engagement", headers=who("admin-1", "admin")).get_json()
    assert engagement["summary"]["meetings_held"] == 1 and engagement["items"][0]["mentoring_hours"] == 0.5
    assert client.post(url, json=reason, headers=who("stranger")).status_code == 403
    assert client.post(url, json=reason, headers=who("admin-1", "admin")).status_code == 403
    own = client.post(url, json=reason, headers=MENTOR)
    assert own.status_code == 409 and own.content_type == "application/problem+json"
    assert own.get_json()["code"] == "recorder_cannot_dispute"
    assert client.post("/v1/meetings/nope/dispute", json=reason, headers=MENTEE).status_code == 404
    disputed = client.post(url, json=reason, headers=MENTEE)
    assert disputed.status_code == 200, disputed.get_json()
    body = disputed.get_json()
    assert body["status"] == "held" and body["disputed"]["by"] == "mentee-1"
    assert body["disputed"]["reason"] == reason["reason"] and body["disputed"]["at"]
    shown = client.get(f"/v1/meetings/{meeting_id}", headers=who("admin-1", "admin")).get_json()
    assert shown["disputed"] == body["disputed"]
    again = client.post(url, json={"reason": "and again"}, headers=MENTEE)
    assert again.status_code == 409 and again.get_json()["code"] == "already_disputed"
    ctx.projector.catch_up()
    engagement = client.get("/v1/cohorts/c1/engagement", headers=who("admin-1", "admin")).get_json()
    assert engagement["summary"]["meetings_held"] == 0  # a disputed held meeting does not count
    assert [(i["pairing_id"], i["meetings_held"], i["last_meeting_at"]) for i in engagement["items"]] == [
        ("p1", 0, None)]


def test_a_no_show_is_disputed_by_the_party_it_names(app):
    ctx, client = app
    meeting_id = client.post("/v1/pairings/p1/meetings", headers=MENTEE, json={
        "starts_at": (NOW + timedelta(hours=1)).isoformat(), "duration_minutes": 30}).get_json()["meeting_id"]
    ctx.clock.advance(hours=2)
    assert client.post(f"/v1/meetings/{meeting_id}/no-show", json={"absent_ids": ["mentor-1"]},
                       headers=MENTEE).status_code == 200
    disputed = client.post(f"/v1/meetings/{meeting_id}/dispute", json={"reason": "I was there"}, headers=MENTOR)
    assert disputed.status_code == 200 and disputed.get_json()["status"] == "no_show"
    assert disputed.get_json()["disputed"]["by"] == "mentor-1"


STARTS = (NOW + timedelta(days=1)).isoformat()
OVERSIZED = [
    ("POST", "/v1/pairings/p1/meetings", {"starts_at": STARTS, "duration_minutes": 30, "agenda": "a" * 2001},
     "agenda"),
    ("POST", "/v1/pairings/p1/meetings", {"starts_at": STARTS, "duration_minutes": 30, "timezone": "Z" * 65},
     "timezone"),
    ("POST", "/v1/meetings/m1/complete", {"notes": "n" * 4001}, "notes"),
    ("POST", "/v1/meetings/m1/complete", {"attendees": ["a", "b", "c"]}, "attendees"),
    ("POST", "/v1/meetings/m1/complete", {"attendees": ["x" * 129]}, "attendees"),
    ("POST", "/v1/meetings/m1/no-show", {"absent_ids": ["a", "b", "c"]}, "absent_ids"),
    ("POST", "/v1/meetings/m1/dispute", {"reason": "r" * 4001}, "reason"),
    ("POST", "/v1/meetings/m1/dispute", {"reason": ""}, "reason"),
    ("PUT", "/v1/pairings/p1/goals", {"expected_revision": 0,
                                      "goals": [{"title": "t", "status": "open"}] * 21}, "goals"),
    ("PUT", "/v1/pairings/p1/goals", {"expected_revision": 0,
                                      "goals": [{"title": "t" * 201, "status": "open"}]}, "goals"),
    ("PUT", "/v1/pairings/p1/goals", {"expected_revision": 0,
                                      "goals": [{"goal_id": "g" * 129, "title": "t", "status": "open"}]}, "goals"),
    ("GET", "/v1/pairings/p1/meetings?cursor=" + "9" * 129, None, "cursor"),
]


@pytest.mark.parametrize("method,path,body,field", OVERSIZED)
def test_an_oversized_value_is_a_422_naming_its_field_and_nothing_is_stored(app, method, path, body, field):
    ctx, client = app
    response = client.open(path, method=method, json=body, headers=MENTOR)
    assert response.status_code == 422, response.get_json()
    assert response.content_type == "application/problem+json" and field in response.get_json()["errors"]
    assert ctx.store.read_all(0) is not None and not list(ctx.store.read_all(0))
