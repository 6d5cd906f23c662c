"""A request's id becomes the correlation (and causation) id of every event it causes."""
from __future__ import annotations

import pytest

from shared.http.auth import mint_token
from services.matching.api import create_app
from services.matching.bootstrap import build

pytestmark = pytest.mark.integration


def test_request_id_is_carried_into_the_events_the_request_stores(make_settings):
    settings = make_settings("matching")
    client = create_app(settings).test_client()
    token = mint_token(settings.jwt_secret, "E000001", ["admin"])
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "req-4711"}
    response = client.post("/v1/programs", json={"name": "Engineering mentoring"}, headers=headers)
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == "req-4711"
    program_id = response.json["program_id"]
    events = build(settings).store.load(program_id).events
    assert [e.event_type for e in events] == ["ProgramCreated"]
    assert events[0].correlation_id == "req-4711" and events[0].causation_id == "req-4711"

    # A caller continuing a longer chain passes its correlation id; the request id stays the cause.
    headers.update({"X-Request-ID": "req-4712", "X-Correlation-ID": "journey-1"})
    second = client.post("/v1/programs", json={"name": "Sales mentoring"}, headers=headers).json["program_id"]
    event = build(settings).store.load(second).events[0]
    assert (event.correlation_id, event.causation_id) == ("journey-1", "req-4712")
