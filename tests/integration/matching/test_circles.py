"""Mentoring circles on the real servers (issue 15): a circle cohort's run proposes members whose
PairingProposed names their mentor's circle on Kafka, and a circle is shown to its mentor, its
members and admins only."""
from __future__ import annotations

import pytest

from shared import topics
from shared.events.catalog import matching as ev
from services.matching.domain.circles import circle_id_for
from tests.helpers import decode, read_topic
from tests.integration.matching.conftest import ADMIN_H, token
from tests.integration.matching.test_events import Running

pytestmark = pytest.mark.integration

MENTORS = ("M001", "M002")
MENTEES = ("E002", "E003", "E004", "E005")


def _circle_cohort(harness) -> str:
    for mentor in MENTORS:
        harness.hire(mentor, level=7)
    for mentee in MENTEES:
        harness.hire(mentee, level=3)
    program = harness.client.post("/v1/programs", json={"name": "Circles"}, headers=ADMIN_H)
    created = harness.client.post(f"/v1/programs/{program.json['program_id']}/cohorts", headers=ADMIN_H, json={
        "name": "Circles 2026", "starts_on": "2026-03-01", "ends_on": "2026-08-31", "format": "circle",
        "circle_min_size": 2, "circle_max_size": 3})
    assert created.status_code == 201, created.json
    cohort = created.json
    assert (cohort["format"], cohort["circle_min_size"], cohort["circle_max_size"]) == ("circle", 2, 3)
    cohort_id = cohort["cohort_id"]
    bad = harness.client.patch(f"/v1/cohorts/{cohort_id}", json={"circle_min_size": 4}, headers=ADMIN_H)
    assert bad.status_code == 422 and bad.json["code"] == "circle_sizes", bad.json
    assert harness.client.post(f"/v1/cohorts/{cohort_id}/status", json={"status": "enrolling"},
                               headers=ADMIN_H).status_code == 200
    for mentor in MENTORS:
        assert harness.enroll(cohort_id, mentor, "mentor", capacity=3).status_code == 201
    for mentee in MENTEES:
        assert harness.enroll(cohort_id, mentee, "mentee").status_code == 201
    assert harness.client.post(f"/v1/cohorts/{cohort_id}/status", json={"status": "matching"},
                               headers=ADMIN_H).status_code == 200
    locked = harness.client.patch(f"/v1/cohorts/{cohort_id}", json={"format": "pair"}, headers=ADMIN_H)
    assert locked.status_code == 409 and locked.json["code"] == "format_locked", locked.json
    return cohort_id


def test_a_circle_run_proposes_members_of_their_mentors_circle_and_shows_it_to_them_only(harness):
    cohort_id = _circle_cohort(harness)
    run = harness.run(cohort_id)
    assert run["status"] == "completed" and run["matched"] == 4
    assert sorted(len(c["mentee_ids"]) for c in run["circles"]) == [2, 2]  # two circles of at least 2
    with Running(harness):
        # programme, cohort, 2 status changes, 6 enrolments, the run's 4 events, 4 proposals
        records = read_topic(harness.settings, topics.MATCHING, expect=1 + 1 + 2 + 6 + 4 + 4)
    proposed = [decode(r)["data"] for r in records if decode(r)["event_type"] == ev.PAIRING_PROPOSED]
    assert len(proposed) == 4
    assert all(p["circle_id"] == circle_id_for(cohort_id, p["mentor_id"]) for p in proposed)
    harness.settle()

    listed = harness.client.get(f"/v1/cohorts/{cohort_id}/circles", headers=ADMIN_H)
    assert listed.status_code == 200 and len(listed.json["items"]) == 2, listed.json
    circle = listed.json["items"][0]
    members = [m["mentee_id"] for m in circle["members"]]
    assert len(members) == 2 and all(m["status"] == "proposed" for m in circle["members"])
    other_circle = listed.json["items"][1]
    path = f"/v1/circles/{circle['circle_id']}"
    for reader in (circle["mentor_id"], *members):
        seen = harness.client.get(path, headers=token(reader))
        assert seen.status_code == 200 and seen.json == circle, (reader, seen.json)
    for outsider in (other_circle["mentor_id"], other_circle["members"][0]["mentee_id"], "E001"):
        assert harness.client.get(path, headers=token(outsider)).status_code == 404
    assert harness.client.get("/v1/circles/cir-nothing", headers=ADMIN_H).status_code == 404

    # the pairing names its circle; co-members see each other's card, members of other circles do not
    pairing = harness.client.get(f"/v1/pairings/{circle['members'][0]['pairing_id']}", headers=token(members[0]))
    assert pairing.json["circle_id"] == circle["circle_id"]
    card = harness.client.get(f"/v1/participants/{members[1]}", headers=token(members[0]))
    assert card.status_code == 200 and "level" not in card.json
    assert harness.client.get(f"/v1/participants/{other_circle['members'][0]['mentee_id']}",
                              headers=token(members[0])).status_code == 404
    # mentees do not choose a mentor in a circle cohort
    refused = harness.client.get(f"/v1/cohorts/{cohort_id}/suggestions", headers=token(members[0]))
    assert refused.status_code == 409 and refused.json["code"] == "circle_cohort"
