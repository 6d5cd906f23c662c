"""Matching HTTP API against the real MongoDB-compatible server: validation, authorization, lifecycle."""
from __future__ import annotations

import pytest

from tests.integration.matching.conftest import ADMIN_H, token

pytestmark = pytest.mark.integration


def test_cohort_validation_names_bad_fields_and_defaults_apply(harness):
    client = harness.client
    program_id = client.post("/v1/programs", json={"name": "P"}, headers=ADMIN_H).json["program_id"]
    bad = client.post(f"/v1/programs/{program_id}/cohorts", headers=ADMIN_H, json={
        "name": "C", "starts_on": "2026-03-01", "ends_on": "2026-08-31", "colour": "red",
        "rules": {"cross_department": "sideways", "weights": {"topics": -1}}})
    assert bad.status_code == 422
    assert bad.headers["Content-Type"].startswith("application/problem+json")
    assert "colour" in bad.json["errors"]
    assert "cross_department" in bad.json["errors"]["rules"]
    assert "topics" in bad.json["errors"]["rules"]["weights"]
    zero = client.post(f"/v1/programs/{program_id}/cohorts", headers=ADMIN_H, json={
        "name": "C", "starts_on": "2026-03-01", "ends_on": "2026-08-31",
        "rules": {"weights": {"topics": 0, "timezone": 0, "department": 0, "level_gap": 0, "preferred": 0}}})
    assert zero.status_code == 422 and "weights" in zero.json["errors"]["rules"]
    ok = client.post(f"/v1/programs/{program_id}/cohorts", headers=ADMIN_H, json={
        "name": "C", "starts_on": "2026-03-01", "ends_on": "2026-08-31",
        "rules": {"cross_department": "malus", "min_level_gap": 2}})
    assert ok.status_code == 201
    assert ok.json["status"] == "draft"
    assert ok.json["meeting_cadence_days"] == 14 and ok.json["answer_deadline_days"] == 7
    assert ok.json["rules"]["cross_department"] == "malus" and ok.json["rules"]["min_level_gap"] == 2
    assert ok.json["rules"]["require_shared_language"] is True
    missing = client.post("/v1/programs/prg-nope/cohorts", headers=ADMIN_H,
                          json={"name": "C", "starts_on": "2026-03-01", "ends_on": "2026-08-31"})
    assert missing.status_code == 404
    skip = client.post(f"/v1/cohorts/{ok.json['cohort_id']}/status", json={"status": "active"}, headers=ADMIN_H)
    assert skip.status_code == 409


def test_only_admins_create_programmes_and_run_matching(harness):
    cohort_id = harness.populated_cohort()
    participant = token("E001", "participant")
    assert harness.client.post("/v1/programs", json={"name": "x"}, headers=participant).status_code == 403
    assert harness.client.post("/v1/programs", json={"name": "x"}).status_code == 401
    denied = harness.client.post(f"/v1/cohorts/{cohort_id}/matching-runs", json={}, headers=participant)
    assert denied.status_code == 403
    assert harness.pairings(cohort_id)["items"] == []
    bad_mode = harness.start_run(cohort_id, mode="fastest")
    assert bad_mode.status_code == 422 and "mode" in bad_mode.json["errors"]


def test_enrolment_rules(harness):
    harness.hire("E100")
    harness.hire("E101")
    cohort_id = harness.cohort(status="enrolling")
    unknown = harness.enroll(cohort_id, "E999", "mentee")
    assert unknown.status_code == 422 and "employee_id" in unknown.json["errors"]
    mentor_without_capacity = harness.enroll(cohort_id, "E100", "mentor")
    assert mentor_without_capacity.status_code == 422 and "capacity" in mentor_without_capacity.json["errors"]
    extra = harness.enroll(cohort_id, "E100", "mentee", favourite_colour="blue")
    assert extra.status_code == 422 and "favourite_colour" in extra.json["errors"]
    first = harness.enroll(cohort_id, "E100", "mentee", goals_summary="Grow", preferences={"same_timezone": True})
    assert first.status_code == 201 and first.json["enrollment_id"]
    assert harness.enroll(cohort_id, "E100", "mentor", capacity=1).status_code == 409
    # a participant enrols only themselves
    other = harness.client.post(f"/v1/cohorts/{cohort_id}/enrollments", headers=token("E101"),
                                json={"employee_id": "E100", "role": "mentee", "topics": []})
    assert other.status_code == 403
    own = harness.client.post(f"/v1/cohorts/{cohort_id}/enrollments", headers=token("E101"),
                              json={"employee_id": "E101", "role": "mentee", "topics": ["python"]})
    assert own.status_code == 201
    withdrawn = harness.client.post(f"/v1/cohorts/{cohort_id}/enrollments/E101/withdraw", headers=token("E101"))
    assert withdrawn.status_code == 200
    assert harness.enroll(cohort_id, "E101", "mentee").status_code == 201  # re-enrol after withdrawal
    # a terminated employee cannot enrol
    from shared.events.envelope import Envelope
    harness.directory.apply(Envelope.from_hris({
        "event_id": "6f1c2b7e-0000-4000-8000-000000000001", "event_type": "EmployeeTerminated",
        "schema_version": 1, "occurred_at": "2026-02-01T00:00:00Z", "source": "workday",
        "data": {"employee_id": "E100", "terminated_on": "2026-02-01"}}))
    other_cohort = harness.cohort(status="enrolling")
    gone = harness.enroll(other_cohort, "E100", "mentee")
    assert gone.status_code == 422 and "employee_id" in gone.json["errors"]


def test_dry_run_previews_without_storing_and_run_respects_constraints(harness):
    cohort_id = harness.populated_cohort()
    started = harness.start_run(cohort_id, dry_run=True)
    assert started.status_code == 202, started.json
    assert started.json["status"] == "running" and started.json["dry_run"] is True
    assert started.headers["Location"] == f"/v1/matching-runs/{started.json['run_id']}"
    preview = harness.poll(started.json["run_id"])
    assert preview["status"] == "completed" and preview["matched"] == 3 and preview["dry_run"]
    assert all(p["pairing_id"] is None for p in preview["proposals"])
    assert harness.pairings(cohort_id)["items"] == []
    assert harness.client.get(f"/v1/cohorts/{cohort_id}", headers=ADMIN_H).json["runs"] == []

    run = harness.run(cohort_id)
    assert run["status"] == "completed" and run["progress"]["phase"] == "done", run
    assert run["run_id"] and run["input_hash"] == preview["input_hash"]
    pairs = {(p["mentor_id"], p["mentee_id"]) for p in run["proposals"]}
    assert pairs == {(p["mentor_id"], p["mentee_id"]) for p in preview["proposals"]}  # deterministic
    assert ("M001", "E001") not in pairs  # M001 manages E001
    mentors = [m for m, _ in pairs]
    assert mentors.count("M001") <= 2 and mentors.count("M002") <= 1
    listed = harness.pairings(cohort_id, status="proposed")["items"]
    assert len(listed) == 3
    assert all(0 <= p["score"] <= 1 and p["reasons"] and p["status"] == "proposed" for p in listed)
    assert all(p["answer_by"].startswith("2026-03-09T09:00:00") for p in listed)
    # a second run finds nobody unpaired
    again = harness.run(cohort_id)
    assert again["status"] == "completed" and again["matched"] == 0 and again["proposals"] == []
    assert harness.client.get(f"/v1/cohorts/{cohort_id}", headers=ADMIN_H).json["runs"] == [run["run_id"],
                                                                                           again["run_id"]]
    assert harness.client.get("/v1/matching-runs/run-nope", headers=ADMIN_H).status_code == 404
    assert harness.client.get(f"/v1/matching-runs/{run['run_id']}", headers=token("E001")).status_code == 403
    stats = harness.client.get(f"/v1/cohorts/{cohort_id}/stats", headers=ADMIN_H).json
    assert stats.pop("cohort") == harness.client.get(f"/v1/cohorts/{cohort_id}", headers=ADMIN_H).json
    assert stats == {"cohort_id": cohort_id, "enrolled": 5, "mentors": 2, "mentees": 3, "proposed": 3,
                     "active": 0, "unmatched": 0, "waiting_for_answers": 6, "completed": 0}
    assert harness.client.get(f"/v1/cohorts/{cohort_id}/stats", headers=token("E001")).status_code == 403


def test_seats_exhausted_is_reported_as_unmatched(harness):
    for employee_id, level in (("M010", 8), ("E010", 3), ("E011", 3)):
        harness.hire(employee_id, level=level)
    cohort_id = harness.cohort()
    harness.enroll(cohort_id, "M010", "mentor", capacity=1)
    harness.enroll(cohort_id, "E010", "mentee")
    harness.enroll(cohort_id, "E011", "mentee")
    run = harness.run(cohort_id)
    assert run["matched"] == 1 and run["unmatched_count"] == 1
    assert [u["reason"] for u in run["unmatched"]] == ["seats_exhausted"]
    stats = harness.client.get(f"/v1/cohorts/{cohort_id}/stats", headers=ADMIN_H).json
    assert stats["unmatched"] == 1 and stats["proposed"] == 1


def test_pairing_lifecycle_accept_decline_end_and_authorization(harness):
    cohort_id = harness.populated_cohort()
    harness.run(cohort_id)
    pairing = next(p for p in harness.pairings(cohort_id)["items"] if p["mentee_id"] == "E002")
    pid, mentor = pairing["pairing_id"], pairing["mentor_id"]
    client = harness.client
    # a participant answers only their own proposals, and sees only their own pairings
    assert client.post(f"/v1/pairings/{pid}/accept", json={}, headers=token("E003")).status_code == 403
    assert client.get(f"/v1/pairings/{pid}", headers=token("E003")).status_code == 403
    assert [p["mentee_id"] for p in harness.pairings(cohort_id, headers=token("E002"))["items"]] == ["E002"]
    # a party cannot answer for the other party
    cross = client.post(f"/v1/pairings/{pid}/accept", json={"role": "mentor"}, headers=token("E002"))
    assert cross.status_code == 403
    first = client.post(f"/v1/pairings/{pid}/accept", json={}, headers=token("E002"))
    assert first.status_code == 200 and first.json["status"] == "proposed" and first.json["mentee_accepted"]
    second = client.post(f"/v1/pairings/{pid}/accept", json={}, headers=token(mentor))
    assert second.status_code == 200 and second.json["status"] == "active"
    types = [e.event_type for e in harness.context.store.load(pid).events]
    assert types == ["PairingProposed", "PairingAccepted", "PairingAccepted", "PairingActivated"]
    assert client.post(f"/v1/pairings/{pid}/decline", json={}, headers=token("E002")).status_code == 409
    bad = client.post(f"/v1/pairings/{pid}/end", json={"reason": "bored"}, headers=token("E002"))
    assert bad.status_code == 422 and "reason" in bad.json["errors"]
    assert client.post(f"/v1/pairings/{pid}/end", json={"reason": "by_admin"}, headers=token("E002")).status_code == 403
    ended = client.post(f"/v1/pairings/{pid}/end", json={"reason": "completed"}, headers=token("E002"))
    assert ended.status_code == 200 and ended.json["status"] == "ended" and ended.json["end_reason"] == "completed"

    # an admin answers for a named party; without naming it, 422 naming role
    other = next(p for p in harness.pairings(cohort_id)["items"] if p["mentee_id"] == "E003")
    unnamed = client.post(f"/v1/pairings/{other['pairing_id']}/decline", json={}, headers=ADMIN_H)
    assert unnamed.status_code == 422 and "role" in unnamed.json["errors"]
    declined = client.post(f"/v1/pairings/{other['pairing_id']}/decline", json={"role": "mentee", "reason": "no_time"},
                           headers=ADMIN_H)
    assert declined.status_code == 200 and declined.json["status"] == "declined"
    # the declined pair is never proposed again: the next run gives E003 another mentor or none
    rerun = harness.run(cohort_id)
    assert (other["mentor_id"], "E003") not in {(p["mentor_id"], p["mentee_id"]) for p in rerun["proposals"]}
    manual = client.post(f"/v1/cohorts/{cohort_id}/pairings", headers=ADMIN_H,
                         json={"mentor_id": other["mentor_id"], "mentee_id": "E003"})
    assert other["mentor_id"] == "M001" and rerun["matched"] == 0
    assert manual.status_code == 422 and "declined_before" in manual.json["errors"]

    # a party lists every pairing naming them, by status and page by page, and nobody else's
    harness.settle()
    every = [p for p in harness.pairings(cohort_id)["items"] if mentor in (p["mentor_id"], p["mentee_id"])]
    assert len(every) >= 2
    mine = harness.pairings(cohort_id, headers=token(mentor))["items"]
    assert [p["pairing_id"] for p in mine] == sorted(p["pairing_id"] for p in every)
    assert [p["pairing_id"] for p in harness.pairings(cohort_id, headers=token(mentor), status="ended")["items"]] == [pid]
    first = harness.pairings(cohort_id, headers=token(mentor), limit=1)
    rest = harness.pairings(cohort_id, headers=token(mentor), limit=50, cursor=first["next"])
    assert [p["pairing_id"] for p in first["items"] + rest["items"]] == [p["pairing_id"] for p in mine]
    everywhere = harness.client.get("/v1/me/pairings", headers=token(mentor))
    assert everywhere.status_code == 200 and everywhere.json["items"] == mine  # one cohort here: the same list
    assert harness.client.get("/v1/me/pairings", headers=token("E077")).json["items"] == []  # paired with nobody


def test_manual_proposal_names_the_broken_rule(harness):
    cohort_id = harness.populated_cohort()
    client = harness.client
    chain = client.post(f"/v1/cohorts/{cohort_id}/pairings", headers=ADMIN_H,
                        json={"mentor_id": "M001", "mentee_id": "E001"})
    assert chain.status_code == 422 and "management_chain" in chain.json["errors"]
    assert chain.json["violated_rules"] == ["management_chain"]
    not_mentor = client.post(f"/v1/cohorts/{cohort_id}/pairings", headers=ADMIN_H,
                             json={"mentor_id": "E002", "mentee_id": "E003"})
    assert not_mentor.status_code == 422 and "mentor_id" in not_mentor.json["errors"]
    participant = client.post(f"/v1/cohorts/{cohort_id}/pairings", headers=token("M002"),
                              json={"mentor_id": "M002", "mentee_id": "E003"})
    assert participant.status_code == 403
    ok = client.post(f"/v1/cohorts/{cohort_id}/pairings", headers=ADMIN_H,
                     json={"mentor_id": "M002", "mentee_id": "E003"})
    assert ok.status_code == 201, ok.json
    assert ok.json["pairing_id"] and ok.json["proposed_by"] == "A000001" and ok.json["matching_run_id"] is None
    twice = client.post(f"/v1/cohorts/{cohort_id}/pairings", headers=ADMIN_H,
                        json={"mentor_id": "M001", "mentee_id": "E003"})
    assert twice.status_code == 409
    full = client.post(f"/v1/cohorts/{cohort_id}/pairings", headers=ADMIN_H,
                       json={"mentor_id": "M002", "mentee_id": "E002"})
    assert full.status_code == 422 and "capacity" in full.json["errors"]


def test_unanswered_proposals_expire_and_free_the_seat(harness):
    for employee_id, level in (("M020", 8), ("E020", 3), ("E021", 3)):
        harness.hire(employee_id, level=level)
    cohort_id = harness.cohort(answer_deadline_days=3)
    harness.enroll(cohort_id, "M020", "mentor", capacity=1)
    harness.enroll(cohort_id, "E020", "mentee")
    harness.enroll(cohort_id, "E021", "mentee")
    first = harness.run(cohort_id)["proposals"][0]
    service = harness.context.commands
    harness.clock.advance(days=2, hours=23)
    assert service.expire_overdue() == 0
    harness.clock.advance(hours=1)
    assert service.expire_overdue() == 1
    assert service.expire_overdue() == 0  # idempotent
    harness.settle()  # the expiry job answers nobody: the views catch up on their own
    doc = harness.client.get(f"/v1/pairings/{first['pairing_id']}", headers=ADMIN_H).json
    assert doc["status"] == "expired"
    harness.settle()
    second = harness.run(cohort_id)
    assert second["matched"] == 1  # the seat is free again


def test_pagination_and_status_filter(harness):
    harness.hire("M030", level=9)
    mentees = [f"E03{i}" for i in range(5)]
    for mentee in mentees:
        harness.hire(mentee, level=3)
    cohort_id = harness.cohort()
    harness.enroll(cohort_id, "M030", "mentor", capacity=5)
    for mentee in mentees:
        harness.enroll(cohort_id, mentee, "mentee")
    assert harness.run(cohort_id)["matched"] == 5
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = harness.pairings(cohort_id, **query)
        assert len(page["items"]) <= 2
        seen += [p["mentee_id"] for p in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(seen) == mentees
    assert harness.pairings(cohort_id, status="active")["items"] == []
    bad = harness.client.get(f"/v1/cohorts/{cohort_id}/pairings?status=maybe", headers=ADMIN_H)
    assert bad.status_code == 422 and "status" in bad.json["errors"]
