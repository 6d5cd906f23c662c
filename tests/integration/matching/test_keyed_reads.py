"""A cohort's enrolments and pairings read by `_id` (adapters/enrollment_index.py, pairing_index.py)
equal what a scan of the documents finds, on the real server, after enrolments, requests, a run and
answers arrived at once through two API processes while two workers' projectors competed for the
views (one holds the lease: the indexes have one writer)."""
from __future__ import annotations

import threading

import pytest

from services.matching.adapters.enrollment_index import EnrollmentIndex
from services.matching.adapters.pairing_index import PairingIndex
from services.matching.api import create_app
from tests.helpers import wait_until
from tests.integration.matching.conftest import ADMIN_H, OwnStoreWorker, token

pytestmark = pytest.mark.integration


def _together(calls) -> list:
    """Every call on its own thread, released at once."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(at, call):
        barrier.wait()
        results[at] = call()

    threads = [threading.Thread(target=run, args=(at, call)) for at, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_the_keyed_reads_equal_a_scan_after_concurrent_writes_from_two_processes(harness, monkeypatch):
    monkeypatch.setattr(EnrollmentIndex, "spread", 8)  # many chunks for a few dozen people
    monkeypatch.setattr(PairingIndex, "spread", 2)  # several chunks whatever the (random) ids
    mentors, mentees = [f"M{n:03d}" for n in range(8)], [f"E{n:03d}" for n in range(30)]
    for employee_id in mentors:
        harness.hire(employee_id, level=8)
    for employee_id in mentees:
        harness.hire(employee_id, level=3)
    cohort_id = harness.cohort(status="matching")
    assert harness.client.patch(f"/v1/cohorts/{cohort_id}", json={"matching_style": "both"},
                                headers=ADMIN_H).status_code == 200
    other_app = create_app(harness.settings, clock=harness.clock)  # a second API process and worker
    other, second_worker = other_app.test_client(), OwnStoreWorker(other_app.extensions["matching"]).start()
    try:
        def enrol(client, employee_id, role):
            body = {"employee_id": employee_id, "role": role, "topics": ["python"],
                    **({"capacity": 3} if role == "mentor" else {})}
            return lambda: client.post(f"/v1/cohorts/{cohort_id}/enrollments", json=body, headers=ADMIN_H)

        people = [(m, "mentor") for m in mentors] + [(e, "mentee") for e in mentees]
        enrolled = _together([enrol(harness.client if n % 2 else other, e, role) for n, (e, role) in enumerate(people)])
        assert [r.status_code for r in enrolled] == [201] * len(people), [r.json for r in enrolled if r.status_code != 201]
        harness.settle()
        asked = _together([lambda e=e, m=m, client=harness.client if n % 2 else other: client.post(
            f"/v1/cohorts/{cohort_id}/requests", json={"mentor_id": m}, headers=token(e))
            for n, (e, m) in enumerate(zip(mentees[:8], mentors))])
        assert [r.status_code for r in asked] == [201] * 8, [r.json for r in asked]
        harness.run(cohort_id)
        harness.settle()
        proposals = [p for p in harness.pairings(cohort_id, limit=200)["items"] if p["status"] == "proposed"]
        requests = [p for p in proposals if p["mentee_accepted"]]  # the mentees' requests: the mentor's yes pairs them
        assert len(requests) == 8
        answers = [lambda p=p: harness.client.post(f"/v1/pairings/{p['pairing_id']}/accept", json={},
                                                   headers=token(p["mentor_id"])) for p in requests[:6]]
        answers += [lambda p=p: other.post(f"/v1/pairings/{p['pairing_id']}/decline", json={"reason": "no_time"},
                                           headers=token(p["mentor_id"])) for p in requests[6:]]
        offers = [p for p in proposals if not p["mentee_accepted"]]
        answers += [lambda p=p: other.post(f"/v1/pairings/{p['pairing_id']}/accept", json={},
                                           headers=token(p["mentee_id"])) for p in offers[:6]]
        # a mentee none of these answers touches leaves (their pairing ends: more writes at once)
        leaving = next(p["mentee_id"] for p in offers[6:])
        answers += [lambda: other.post(f"/v1/cohorts/{cohort_id}/enrollments/{leaving}/withdraw", headers=ADMIN_H)]
        answered = _together(answers)
        assert all(r.status_code == 200 for r in answered), [r.json for r in answered if r.status_code != 200]
        ended = next(p["pairing_id"] for p in offers[6:] if p["mentee_id"] == leaving)

        def reacted():  # the withdrawal's reaction ends the leaver's pairing after the request
            harness.settle()
            return harness.context.views.pairings.get(ended)["status"] == "ended"

        wait_until(reacted, timeout_s=60, message="the leaver's pairing to end")
        harness.settle()
    finally:
        second_worker.close()

    views, database = harness.context.views, harness.context.database
    scanned = sorted(database["pairings"].find({"cohort_id": cohort_id}), key=lambda d: d["_id"])
    assert {doc["status"] for doc in scanned} >= {"proposed", "active", "declined"} and len(scanned) > 20
    assert len(views.pairing_index.find({"cohort_id": cohort_id})) >= 4  # a directory and chunks
    assert views.pairings_of_cohort(cohort_id) == scanned
    assert [(e.pairing_id, e.mentor_id, e.mentee_id, e.status, e.answer_by)
            for e in views.pairing_entries(cohort_id)] == [
        (d["_id"], d["mentor_id"], d["mentee_id"], d["status"], d["answer_by"]) for d in scanned]
    enrolments = sorted(database["enrollments"].find({"cohort_id": cohort_id}), key=lambda d: d["_id"])
    assert len(enrolments) == len(people) and any(d["status"] == "withdrawn" for d in enrolments)
    assert views.enrollments_of_cohort(cohort_id) == enrolments
    for person in (mentors[0], mentees[0], mentees[20]):
        assert sorted(views.pairings_of_employee(person), key=lambda d: d["_id"]) == [
            d for d in scanned if person in (d["mentor_id"], d["mentee_id"])]
        assert views.enrollments_of_employee(person) == list(database["enrollments"].find({"employee_id": person}))
    # the list pages through the index as the sorted scan would
    listed, cursor = [], None
    while True:
        page = harness.pairings(cohort_id, limit=7, **({"cursor": cursor} if cursor else {}))
        listed += page["items"]
        cursor = page["next"]
        if not cursor:
            break
    assert [p["pairing_id"] for p in listed] == [d["_id"] for d in scanned]
    active = harness.pairings(cohort_id, status="active", limit=200)["items"]
    assert [p["pairing_id"] for p in active] == [d["_id"] for d in scanned if d["status"] == "active"]
    # a mentee's suggestions count the seats the index says are taken
    free = next(e for e in mentees[:-1] if not any(d["mentee_id"] == e and d["status"] in ("proposed", "active")
                                                   for d in scanned))
    found = harness.client.get(f"/v1/cohorts/{cohort_id}/suggestions", headers=token(free)).json
    taken = {m: sum(d["mentor_id"] == m and d["status"] in ("proposed", "active") for d in scanned) for m in mentors}
    assert found["items"] and all(item["seats_left"] == 3 - taken[item["mentor_id"]] for item in found["items"])
