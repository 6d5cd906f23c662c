"""Hostile input: every string in a feedback request is bounded (issue 12): a 422 naming the
field, before anything is looked up or stored (the pairing here does not exist: not a 404)."""
from __future__ import annotations

import pytest

from services.feedback.api import create_app
from tests.integration.feedback.support import auth

pytestmark = pytest.mark.integration

CASES = [
    ("/v1/pairings/P404/feedback", {"rating": 4, "meeting_id": "m" * 129}, "meeting_id"),
    ("/v1/pairings/P404/feedback", {"rating": 4, "comment": "c" * 2001}, "comment"),
    ("/v1/pairings/P404/kudos", {"note": "k" * 501}, "note"),
]


@pytest.mark.parametrize("path,body,field", CASES)
def test_an_oversized_value_is_a_422_naming_its_field(make_settings, path, body, field):
    settings = make_settings("feedback")
    response = create_app(settings).test_client().post(path, json=body, headers=auth(settings, "E1"))
    assert response.status_code == 422, response.get_json()
    assert response.content_type == "application/problem+json" and field in response.get_json()["errors"]
