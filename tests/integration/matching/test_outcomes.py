"""A programme's outcomes over HTTP: its mentees' promotions against matched non-participants."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shared.events.envelope import Envelope
from tests.helpers import hris_upsert
from tests.integration.matching.conftest import ADMIN_H, token

pytestmark = pytest.mark.integration

MENTORS = [f"OM{i}" for i in range(5)]
MENTEES = [f"OE{i}" for i in range(5)]
PEERS = [f"OP{i}" for i in range(8)]


def test_a_programme_shows_how_its_mentees_fared_against_people_like_them(harness):
    for mentor in MENTORS:
        harness.hire(mentor, level=7, hire_date="2015-01-01")
    for person in MENTEES + PEERS:
        harness.hire(person, level=3, hire_date="2020-01-01")
    harness.hire("OX1", level=3, department="Sales", hire_date="2020-01-01")  # not like them
    for person in MENTEES[:3] + PEERS[:1] + ["OX1"]:  # promoted in May
        department = "Sales" if person == "OX1" else "Engineering"
        harness.directory.apply(Envelope.from_hris(hris_upsert(person, occurred_at="2026-05-01T00:00:00Z", level=4,
                                                               department=department, hire_date="2020-01-01")))
    assert harness.directory.get("OE0")["level_history"] == ["2026-01-01:3", "2026-05-01:4"]

    cohort_id = harness.cohort(status="enrolling")  # starts 2026-03-01
    for mentor in MENTORS:
        assert harness.enroll(cohort_id, mentor, "mentor", capacity=1).status_code == 201
    for mentee in MENTEES:
        assert harness.enroll(cohort_id, mentee, "mentee").status_code == 201
    status = f"/v1/cohorts/{cohort_id}/status"
    assert harness.client.post(status, json={"status": "matching"}, headers=ADMIN_H).status_code == 200
    harness.run(cohort_id)
    for pairing in harness.pairings(cohort_id)["items"]:
        for party in (pairing["mentor_id"], pairing["mentee_id"]):
            accepted = harness.client.post(f"/v1/pairings/{pairing['pairing_id']}/accept", json={}, headers=token(party))
            assert accepted.status_code == 200, accepted.json
    harness.settle()
    for step in ("active", "closed"):
        assert harness.client.post(status, json={"status": step}, headers=ADMIN_H).status_code == 200
    harness.settle()
    program_id = harness.client.get(f"/v1/cohorts/{cohort_id}", headers=ADMIN_H).json["program_id"]
    path = f"/v1/programs/{program_id}/outcomes"

    harness.clock.set(datetime(2026, 9, 15, tzinfo=timezone.utc))
    answer = harness.client.get(path, headers=ADMIN_H)
    assert answer.status_code == 200, answer.json
    assert (answer.json["closed_cohorts"], answer.json["mentees"], answer.json["as_of"]) == ([cohort_id], 5, "2026-09-15")
    six, twelve = answer.json["horizons"]
    assert six["promotion"]["mentees"]["rate"] == 0.6 and six["promotion"]["comparison"]["rate"] == 0.125
    assert six["promotion"]["comparison"]["n"] == 8  # the Sales person is nobody's peer
    assert six["retention"]["mentees"]["rate"] == 1.0
    assert twelve["mentees_observed"] == 0 and twelve["promotion"]["mentees"]["rate"] is None

    assert harness.client.get(path, headers=token("OE0")).status_code == 403
    assert harness.client.get("/v1/programs/prg-nope/outcomes", headers=ADMIN_H).status_code == 404
