"""Programme management through the real API (issue 15): listings, cohort settings, the next intake,
enrolment listing with filters, capacity and pausing (which never end a pairing)."""
from __future__ import annotations

import pytest

from tests.integration.matching.conftest import ADMIN_H, token

pytestmark = pytest.mark.integration


def _program(client, name):
    created = client.post("/v1/programs", json={"name": name}, headers=ADMIN_H)
    assert created.status_code == 201, created.json
    return created.json["program_id"]


def _cohort(client, program_id, name, **extra):
    created = client.post(f"/v1/programs/{program_id}/cohorts", headers=ADMIN_H, json={
        "name": name, "starts_on": "2026-03-01", "ends_on": "2026-08-31", **extra})
    assert created.status_code == 201, created.json
    return created.json


def test_programmes_and_their_cohorts_are_listed_page_by_page(harness):
    client = harness.client
    first, second = _program(client, "Engineering"), _program(client, "Sales")
    spring = _cohort(client, first, "Spring", max_mentor_capacity=3, matching_style="both")
    autumn = _cohort(client, first, "Autumn")
    listed, pages, cursor = [], 0, None
    while True:
        page = client.get("/v1/programs", query_string={"limit": 1, **({"cursor": cursor} if cursor else {})},
                          headers=token("E001"))  # participants list them too (to find cohorts to join)
        assert page.status_code == 200, page.json
        listed += page.json["items"]
        pages += 1
        cursor = page.json["next"]
        if not cursor:
            break
    assert {p["program_id"] for p in listed} >= {first, second} and pages >= 2
    by_id = {p["program_id"]: p for p in listed}
    assert by_id[first]["name"] == "Engineering" and by_id[first]["cohort_count"] == 2

    cohorts = client.get(f"/v1/programs/{first}/cohorts", headers=ADMIN_H).json
    assert [c["cohort_id"] for c in cohorts["items"]] == [spring["cohort_id"], autumn["cohort_id"]]
    assert cohorts["items"][0] == client.get(f"/v1/cohorts/{spring['cohort_id']}", headers=ADMIN_H).json
    assert cohorts["items"][0]["max_mentor_capacity"] == 3 and cohorts["items"][0]["matching_style"] == "both"
    assert cohorts["items"][1]["matching_style"] == "admin_run" and cohorts["items"][1]["max_mentor_capacity"] is None
    one = client.get(f"/v1/programs/{first}/cohorts", query_string={"limit": 1}, headers=ADMIN_H).json
    rest = client.get(f"/v1/programs/{first}/cohorts", query_string={"limit": 1, "cursor": one["next"]},
                      headers=ADMIN_H).json
    assert [c["name"] for c in one["items"] + rest["items"]] == ["Spring", "Autumn"] and rest["next"] is None
    assert client.get(f"/v1/programs/{second}/cohorts", headers=ADMIN_H).json == {"items": [], "next": None}
    assert client.get("/v1/programs/prg-nope/cohorts", headers=ADMIN_H).status_code == 404
    assert client.get("/v1/programs").status_code == 401


def test_a_cohort_is_revised_with_only_what_changed_and_bad_values_are_named(harness):
    client = harness.client
    cohort = _cohort(client, _program(client, "P"), "Spring")
    cohort_id = cohort["cohort_id"]
    path = f"/v1/cohorts/{cohort_id}"
    revised = client.patch(path, headers=ADMIN_H, json={
        "name": "Spring 2026", "ends_on": "2026-09-30", "meeting_cadence_days": 21, "answer_deadline_days": 7,
        "max_mentor_capacity": 2, "matching_style": "mentee_choice", "rules": {"min_level_gap": 2}})
    assert revised.status_code == 200, revised.json
    assert revised.json["name"] == "Spring 2026" and revised.json["ends_on"] == "2026-09-30"
    assert revised.json["meeting_cadence_days"] == 21 and revised.json["max_mentor_capacity"] == 2
    assert revised.json["matching_style"] == "mentee_choice" and revised.json["rules"]["min_level_gap"] == 2
    assert client.get(path, headers=token("E001")).json == revised.json
    events = [e for e in harness.context.commands.cohorts.load(cohort_id).events if e.event_type == "CohortRevised"]
    assert len(events) == 1
    # answer_deadline_days was sent unchanged (7): the event carries only what changed
    assert sorted(events[0].data["changed"]) == sorted(["name", "ends_on", "meeting_cadence_days", "rules",
                                                        "max_mentor_capacity", "matching_style"])
    assert "answer_deadline_days" not in events[0].data
    assert client.patch(path, headers=ADMIN_H, json={"name": "Spring 2026"}).status_code == 200
    assert len([e for e in harness.context.commands.cohorts.load(cohort_id).events if e.event_type == "CohortRevised"]) == 1

    before_start = client.patch(path, headers=ADMIN_H, json={"ends_on": "2026-02-01"})
    assert before_start.status_code == 422 and "ends_on" in str(before_start.json)
    after_end = client.patch(path, headers=ADMIN_H, json={"starts_on": "2026-12-01"})
    assert after_end.status_code == 422 and "starts_on" in str(after_end.json)
    for field, value in (("matching_style", "lottery"), ("max_mentor_capacity", 0), ("meeting_cadence_days", 0),
                         ("name", "")):
        bad = client.patch(path, headers=ADMIN_H, json={field: value})
        assert bad.status_code == 422 and field in bad.json["errors"], (field, bad.json)
    assert client.patch(path, headers=ADMIN_H, json={}).status_code == 422
    assert client.patch(path, headers=token("E001"), json={"name": "x"}).status_code == 403
    assert client.patch("/v1/cohorts/coh-nope", headers=ADMIN_H, json={"name": "x"}).status_code == 404


def test_the_next_intake_copies_the_settings_and_no_enrolments(harness):
    harness.hire("M050", level=8)
    client = harness.client
    program_id = _program(client, "P")
    source = _cohort(client, program_id, "Spring", max_mentor_capacity=4, matching_style="both",
                     meeting_cadence_days=10, rules={"cross_department": "bonus"})
    client.post(f"/v1/cohorts/{source['cohort_id']}/status", json={"status": "enrolling"}, headers=ADMIN_H)
    assert harness.enroll(source["cohort_id"], "M050", "mentor", capacity=2).status_code == 201
    copy = client.post(f"/v1/cohorts/{source['cohort_id']}/duplicate", headers=ADMIN_H,
                       json={"name": "Autumn", "starts_on": "2026-09-01", "ends_on": "2027-02-28"})
    assert copy.status_code == 201, copy.json
    for name in ("program_id", "meeting_cadence_days", "answer_deadline_days", "rules", "max_mentor_capacity",
                 "matching_style"):
        assert copy.json[name] == source[name], name
    assert copy.json["name"] == "Autumn" and copy.json["status"] == "draft"
    assert copy.json["duplicated_from"] == source["cohort_id"] and copy.json["cohort_id"] != source["cohort_id"]
    enrolled = client.get(f"/v1/cohorts/{copy.json['cohort_id']}/enrollments", headers=ADMIN_H).json
    assert enrolled == {"items": [], "next": None}
    listed = client.get(f"/v1/programs/{program_id}/cohorts", headers=ADMIN_H).json["items"]
    assert [c["name"] for c in listed] == ["Spring", "Autumn"]
    bad = client.post(f"/v1/cohorts/{source['cohort_id']}/duplicate", headers=ADMIN_H,
                      json={"name": "X", "starts_on": "2026-09-01", "ends_on": "2026-08-01"})
    assert bad.status_code == 422 and "ends_on" in bad.json["errors"]


def test_enrolments_are_listed_by_role_status_and_id_prefix(harness):
    for employee_id in ("M060", "M061", "E060", "E061", "E070"):
        harness.hire(employee_id, level=8 if employee_id.startswith("M") else 3)
    cohort_id = harness.cohort(status="enrolling")
    for employee_id in ("M060", "M061"):
        harness.enroll(cohort_id, employee_id, "mentor", capacity=2)
    for employee_id in ("E060", "E061", "E070"):
        harness.enroll(cohort_id, employee_id, "mentee")
    harness.client.post(f"/v1/cohorts/{cohort_id}/enrollments/E061/withdraw", headers=ADMIN_H)
    path = f"/v1/cohorts/{cohort_id}/enrollments"

    def ids(**query):
        response = harness.client.get(path, query_string=query, headers=ADMIN_H)
        assert response.status_code == 200, response.json
        return [item["employee_id"] for item in response.json["items"]]

    assert ids() == ["E060", "E061", "E070", "M060", "M061"]
    assert ids(role="mentor") == ["M060", "M061"]
    assert ids(role="mentee", status="active") == ["E060", "E070"]
    assert ids(status="withdrawn") == ["E061"]
    assert ids(q="E06") == ["E060", "E061"]
    first = harness.client.get(path, query_string={"limit": 2}, headers=ADMIN_H).json
    second = harness.client.get(path, query_string={"limit": 2, "cursor": first["next"]}, headers=ADMIN_H).json
    third = harness.client.get(path, query_string={"limit": 2, "cursor": second["next"]}, headers=ADMIN_H).json
    assert [i["employee_id"] for i in first["items"] + second["items"] + third["items"]] == ids()
    assert third["next"] is None
    row = first["items"][0]
    assert row["role"] == "mentee" and row["paused"] is False and "goals_summary" not in row
    assert harness.client.get(path, headers=token("E060")).status_code == 403
    assert harness.client.get("/v1/cohorts/coh-nope/enrollments", headers=ADMIN_H).status_code == 404
    assert harness.client.get(path, query_string={"role": "boss"}, headers=ADMIN_H).status_code == 422


def test_capacity_and_pausing_never_end_pairings_and_paused_people_get_no_new_proposals(harness):
    for employee_id, level in (("M070", 8), ("M071", 8), ("E080", 3), ("E081", 3), ("E082", 3)):
        harness.hire(employee_id, level=level)
    cohort_id = harness.cohort(status="enrolling")
    assert harness.client.patch(f"/v1/cohorts/{cohort_id}", json={"max_mentor_capacity": 3},
                                headers=ADMIN_H).status_code == 200
    harness.enroll(cohort_id, "M070", "mentor", capacity=2)
    harness.enroll(cohort_id, "E080", "mentee")
    harness.client.post(f"/v1/cohorts/{cohort_id}/status", json={"status": "matching"}, headers=ADMIN_H)
    first = harness.run(cohort_id)
    assert first["matched"] == 1
    pairing_id = harness.pairings(cohort_id)["items"][0]["pairing_id"]

    path = f"/v1/cohorts/{cohort_id}/enrollments/M070"
    lowered = harness.client.patch(path, json={"capacity": 1}, headers=token("M070"))  # the mentor themselves
    assert lowered.status_code == 200 and lowered.json["capacity"] == 1
    above_max = harness.client.patch(path, json={"capacity": 4}, headers=token("M070"))
    assert above_max.status_code == 422 and "capacity" in above_max.json["errors"]
    assert harness.client.patch(path, json={"capacity": 2}, headers=token("E080")).status_code == 403
    mentee_capacity = harness.client.patch(f"/v1/cohorts/{cohort_id}/enrollments/E080", json={"capacity": 2},
                                           headers=ADMIN_H)
    assert mentee_capacity.status_code == 422 and "capacity" in mentee_capacity.json["errors"]
    assert harness.client.patch(f"/v1/cohorts/{cohort_id}/enrollments/E999", json={"paused": True},
                                headers=ADMIN_H).status_code == 404

    # capacity 1 with one seat taken: the next run offers M070 no seat; the pairing stays
    harness.enroll(cohort_id, "E081", "mentee")
    second = harness.run(cohort_id)
    assert second["matched"] == 0 and [u["mentee_id"] for u in second["unmatched"]] == ["E081"]
    assert harness.client.get(f"/v1/pairings/{pairing_id}", headers=ADMIN_H).json["status"] == "proposed"

    # paused with seats to spare: still no new proposal; the existing pairing still stays
    paused = harness.client.patch(path, json={"capacity": 3, "paused": True}, headers=ADMIN_H)
    assert paused.status_code == 200 and paused.json["paused"] is True and paused.json["capacity"] == 3
    third = harness.run(cohort_id)
    assert third["matched"] == 0
    assert harness.client.get(f"/v1/pairings/{pairing_id}", headers=ADMIN_H).json["status"] == "proposed"
    by_hand = harness.client.post(f"/v1/cohorts/{cohort_id}/pairings", json={"mentor_id": "M070",
                                                                           "mentee_id": "E081"}, headers=ADMIN_H)
    assert by_hand.status_code == 409 and by_hand.json["code"] == "paused"
    listed = harness.client.get(f"/v1/cohorts/{cohort_id}/enrollments", query_string={"role": "mentor"},
                                headers=ADMIN_H).json["items"]
    assert [(r["employee_id"], r["capacity"], r["paused"]) for r in listed] == [("M070", 3, True)]

    resumed = harness.client.patch(path, json={"paused": False}, headers=ADMIN_H)
    assert resumed.status_code == 200 and resumed.json["paused"] is False
    assert harness.run(cohort_id)["matched"] == 1
