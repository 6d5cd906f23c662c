"""Mentee choice over HTTP on the real MongoDB (issue 15): suggestions -> request -> the mentor
accepts -> the pairing is active."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.matching.api import create_app
from tests.integration.matching.conftest import ADMIN_H, EMPLOYEES, token

pytestmark = pytest.mark.integration


def test_a_mentee_chooses_a_mentor_who_accepts(harness):
    for employee_id, (level, dept, manager, tz) in EMPLOYEES.items():
        harness.hire(employee_id, level=level, department=dept, manager_id=manager, tz=tz, display_name=employee_id)
    cohort_id = harness.cohort(status="matching")
    client, mentee, mentor = harness.client, token("E002"), token("M001")
    stranger = client.get(f"/v1/cohorts/{cohort_id}/suggestions", headers=mentee)
    assert stranger.status_code == 403 and stranger.json["code"] == "not_a_mentee"  # not enrolled (yet)
    assert harness.enroll(cohort_id, "M001", "mentor", capacity=1, topics=["python", "leadership"]).status_code == 201
    assert harness.enroll(cohort_id, "M002", "mentor", capacity=1, topics=["sales"]).status_code == 201
    assert harness.enroll(cohort_id, "E002", "mentee", topics=["leadership", "sales"],
                          goals_summary="Grow in leadership this year").status_code == 201
    assert harness.enroll(cohort_id, "E003", "mentee", topics=["python"]).status_code == 201
    off = client.get(f"/v1/cohorts/{cohort_id}/suggestions", headers=mentee)
    assert off.status_code == 409 and off.json["code"] == "mentee_choice_off"
    assert client.patch(f"/v1/cohorts/{cohort_id}", json={"matching_style": "both"}, headers=ADMIN_H).status_code == 200

    found = client.get(f"/v1/cohorts/{cohort_id}/suggestions", query_string={"limit": 5}, headers=mentee)
    assert found.status_code == 200, found.json
    best = found.json["items"][0]
    assert [item["mentor_id"] for item in found.json["items"]] == ["M001", "M002"] and found.json["can_request"]
    assert best["seats_left"] == 1 and "goals mention: leadership" in best["reasons"]
    assert best["card"]["display_name"] == "M001" and "email" not in best["card"]

    bad = client.post(f"/v1/cohorts/{cohort_id}/requests", json={"mentor_id": "E003"}, headers=mentee)
    assert bad.status_code == 422 and bad.json["code"] == "mentor_unknown", bad.json
    asked = client.post(f"/v1/cohorts/{cohort_id}/requests", headers=mentee,
                        json={"mentor_id": "M001", "message": "Could you help me lead?"})
    assert asked.status_code == 201, asked.json
    pairing_id = asked.json["pairing_id"]
    assert (asked.json["proposed_by"], asked.json["status"], asked.json["score"]) == ("E002", "proposed", best["score"])
    again = client.post(f"/v1/cohorts/{cohort_id}/requests", json={"mentor_id": "M002"}, headers=mentee)
    assert again.status_code == 409 and again.json["code"] == "request_open"
    # the seat is held: the other mentee is not offered M001
    other = client.get(f"/v1/cohorts/{cohort_id}/suggestions", headers=token("E003")).json
    assert "M001" not in [item["mentor_id"] for item in other["items"]]

    # the mentor reads the request (message, goals summary) and accepts
    seen = client.get(f"/v1/pairings/{pairing_id}", headers=mentor).json
    assert (seen["message"], seen["goals_summary"]) == ("Could you help me lead?", "Grow in leadership this year")
    assert "message" not in client.get(f"/v1/cohorts/{cohort_id}/pairings", headers=ADMIN_H).json["items"][0]
    accepted = client.post(f"/v1/pairings/{pairing_id}/accept", json={}, headers=mentor)
    assert accepted.status_code == 200 and accepted.json["status"] == "active"
    harness.settle()
    assert client.get(f"/v1/pairings/{pairing_id}", headers=mentee).json["status"] == "active"
    paired = client.post(f"/v1/cohorts/{cohort_id}/requests", json={"mentor_id": "M002"}, headers=mentee)
    assert paired.status_code == 409 and paired.json["code"] == "mentee_paired"


def _at_once(calls) -> list:
    """Each call on its own thread, released together (as from two API processes)."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_two_requests_or_proposals_for_a_mentors_last_seat_at_once_one_wins_the_other_gets_no_seats_left(harness):
    for employee_id, (level, dept, manager, tz) in EMPLOYEES.items():
        harness.hire(employee_id, level=level, department=dept, manager_id=manager, tz=tz, display_name=employee_id)
    harness.hire("E004", level=3, department="Sales", display_name="E004")
    cohort_id = harness.cohort(status="matching")
    assert harness.enroll(cohort_id, "M002", "mentor", capacity=1, topics=["python"]).status_code == 201
    assert harness.enroll(cohort_id, "M001", "mentor", capacity=1, topics=["python"]).status_code == 201
    for mentee in ("E002", "E003", "E004"):
        assert harness.enroll(cohort_id, mentee, "mentee", topics=["python"]).status_code == 201
    assert harness.client.patch(f"/v1/cohorts/{cohort_id}", json={"matching_style": "both"},
                                headers=ADMIN_H).status_code == 200
    harness.settle()
    other = create_app(harness.settings, clock=harness.clock).test_client()  # a second API process

    asked = _at_once([
        lambda: harness.client.post(f"/v1/cohorts/{cohort_id}/requests", json={"mentor_id": "M002"},
                                    headers=token("E002")),
        lambda: other.post(f"/v1/cohorts/{cohort_id}/requests", json={"mentor_id": "M002"}, headers=token("E003"))])
    assert sorted(r.status_code for r in asked) == [201, 422], [r.json for r in asked]
    [lost] = [r for r in asked if r.status_code == 422]
    assert lost.json["code"] == "no_seats_left" and "mentor_id" in lost.json["errors"], lost.json

    # an admin proposing M001 to both mentees at once (one from each API process): one proposal
    harness.settle()
    waiting = [m for m in ("E002", "E003") if m not in {r.json.get("mentee_id") for r in asked}]
    proposed = _at_once([
        lambda: harness.client.post(f"/v1/cohorts/{cohort_id}/pairings", headers=ADMIN_H,
                                    json={"mentor_id": "M001", "mentee_id": waiting[0]}),
        lambda: other.post(f"/v1/cohorts/{cohort_id}/pairings", headers=ADMIN_H,
                           json={"mentor_id": "M001", "mentee_id": "E004"})])
    codes = sorted(r.status_code for r in proposed)
    assert codes == [201, 422], [r.json for r in proposed]
    [lost] = [r for r in proposed if r.status_code == 422]
    assert lost.json["code"] in ("no_seats_left", "rule_violations"), lost.json  # the race, or the views saw it
    harness.settle()
    open_pairs = [p for p in harness.pairings(cohort_id)["items"] if p["status"] in ("proposed", "active")]
    assert sorted(p["mentor_id"] for p in open_pairs) == ["M001", "M002"]
