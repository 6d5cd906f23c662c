"""GET /v1/participants/{id} through the real API on MongoDB: record, card or 404 — never a list."""
from __future__ import annotations

import uuid

from shared.events.envelope import Envelope
from services.matching.application.partners import CARD_FIELDS
from tests.integration.matching.conftest import ADMIN_H, token


def _get(harness, employee_id, headers):
    return harness.client.get(f"/v1/participants/{employee_id}", headers=headers)


def test_the_person_and_admins_get_the_record_partners_a_card_and_everyone_else_404(harness):
    cohort_id = harness.populated_cohort()
    harness.run(cohort_id)
    harness.settle()
    pairing = next(p for p in harness.pairings(cohort_id)["items"] if p["mentee_id"] == "E002")
    mentor = pairing["mentor_id"]

    own = _get(harness, "E002", token("E002"))
    assert own.status_code == 200 and own.json["level"] == 3 and "email" in own.json
    assert _get(harness, "E002", ADMIN_H).json == own.json

    card = _get(harness, "E002", token(mentor))  # a proposed partner
    assert card.status_code == 200
    assert set(card.json) == set(CARD_FIELDS) and card.json["timezone"] == "Europe/London"
    assert "level" not in card.json and "manager_id" not in card.json and "email" not in card.json

    stranger = _get(harness, "E002", token("E003"))
    unknown = _get(harness, "E999", token("E003"))
    assert stranger.status_code == unknown.status_code == 404
    assert stranger.json["code"] == unknown.json["code"]  # nothing tells a stranger the person exists

    ended = harness.client.post(f"/v1/pairings/{pairing['pairing_id']}/end", json={"reason": "completed"},
                                headers=token("E002"))
    assert ended.status_code == 200, ended.json
    harness.settle()
    assert _get(harness, "E002", token(mentor)).status_code == 404


def test_nobody_can_list_the_directory_and_terminated_people_are_not_served(harness):
    harness.populated_cohort()
    for path in ("/v1/participants", "/v1/participants/", "/v1/participants?limit=100"):
        assert harness.client.get(path, headers=token("E002")).status_code in (404, 405)
        assert harness.client.get(path, headers=ADMIN_H).status_code in (404, 405)
    harness.directory.apply(Envelope.from_hris({
        "event_id": str(uuid.uuid4()), "event_type": "EmployeeTerminated", "schema_version": 1,
        "occurred_at": "2026-03-03T00:00:00Z", "source": "workday",
        "data": {"employee_id": "E003", "terminated_on": "2026-03-03"}}))
    assert _get(harness, "E003", ADMIN_H).status_code == 404
    assert _get(harness, "E003", token("E003")).status_code == 404
