"""The audit trail (issue 12): what an admin did and read, and who was refused, is on record in the
service that served it, newest first, for admins only; a participant's own business is not."""
from __future__ import annotations

import pytest

from shared import audit_log
from shared.http import audit
from tests.integration.matching.conftest import ADMIN, ADMIN_H, Harness, token

pytestmark = pytest.mark.integration


def _audit(client, headers=ADMIN_H, **query) -> dict:
    answer = client.get("/v1/audit", headers=headers, query_string=query)
    assert answer.status_code == 200, answer.json
    return answer.json


@pytest.fixture
def harness(make_settings):
    h = Harness(make_settings("matching"))
    yield h
    h.close()


def test_an_admins_commands_and_reads_are_listed_newest_first_with_their_correlation_id(harness):
    client = harness.client
    created = client.post("/v1/programs", json={"name": "Sales mentoring"},
                          headers={**ADMIN_H, "X-Correlation-ID": "change-4711"})
    assert created.status_code == 201
    program_id = created.json["program_id"]
    assert client.get(f"/v1/programs/{program_id}/cohorts", headers=ADMIN_H).status_code == 200
    harness.hire("E002")
    assert client.get("/v1/participants/E002", headers=ADMIN_H).status_code == 200  # another person's record

    items = _audit(client)["items"]
    assert [item["action"] for item in items[:3]] == [
        "GET /v1/participants/<employee_id>", "GET /v1/programs/<program_id>/cohorts", "POST /v1/programs"]
    assert items[0]["target"] == "/v1/participants/E002"
    assert items[2]["actor_id"] == ADMIN
    assert items[2]["status"] == 201
    assert items[2]["correlation_id"] == "change-4711"
    assert all(item["at"] for item in items)


def test_a_refused_attempt_is_recorded_and_a_participants_own_business_is_not(harness):
    client = harness.client
    participant = token("E003")
    assert client.get("/v1/programs", headers=participant).status_code == 200  # an ordinary read
    assert client.post("/v1/programs", json={"name": "Mine"}, headers=participant).status_code == 403
    assert client.get("/v1/audit", headers=participant).status_code == 403

    items = _audit(client)["items"]
    by_e003 = [(item["action"], item["status"]) for item in items if item["actor_id"] == "E003"]
    assert by_e003 == [("GET /v1/audit", 403), ("POST /v1/programs", 403)]
    # a machine client (integration token) is refused everywhere, and that is on record too
    assert client.get("/v1/programs", headers=token("svc-hris", "integration")).status_code == 403
    assert ("GET /v1/programs", 403, "svc-hris") in {
        (item["action"], item["status"], item["actor_id"]) for item in _audit(client)["items"]}


def test_pages_follow_the_cursor_without_repeating_or_skipping_an_entry(harness):
    client = harness.client
    for n in range(7):
        assert client.post("/v1/programs", json={"name": f"P{n}"}, headers=ADMIN_H).status_code == 201
    seen, cursor, pages = [], None, 0
    while True:
        page = _audit(client, limit=3, actor_id=ADMIN, **({"cursor": cursor} if cursor else {}))
        pages += 1
        seen += [item["entry_id"] for item in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    # A read is recorded once served, so the pages list what was there at the first one: the 7 commands.
    everything = _audit(client, limit=500, actor_id=ADMIN)["items"]
    commands = [item["entry_id"] for item in everything if item["action"] == "POST /v1/programs"]
    assert seen == commands
    assert len(seen) == 7
    assert seen == sorted(seen, reverse=True)
    assert [item["action"] for item in everything[:pages]] == ["GET /v1/audit"] * pages


def test_entries_are_only_ever_inserted_with_an_id_that_sorts_by_time(harness):
    from datetime import datetime, timedelta, timezone

    earlier = datetime(2026, 3, 2, 9, 0, 0, 999999, tzinfo=timezone.utc)
    later = earlier + timedelta(microseconds=1)
    assert audit.entry_id(earlier) < audit.entry_id(later)
    assert harness.client.post("/v1/programs", json={"name": "X"}, headers=ADMIN_H).status_code == 201
    # no route changes or deletes an entry: the trail has no other method than GET
    assert harness.client.delete("/v1/audit", headers=ADMIN_H).status_code == 405
    assert harness.client.put("/v1/audit", json={}, headers=ADMIN_H).status_code == 405


def test_every_service_keeps_its_own_trail(make_settings):
    from services.feedback.api import create_app as feedback_app

    app = feedback_app(make_settings("feedback"))
    client = app.test_client()
    export = client.get("/v1/cohorts/C-unknown/feedback/export.csv", headers=ADMIN_H)
    assert export.status_code in (200, 404)
    (item,) = [i for i in _audit(client)["items"] if i["action"].endswith("export.csv")]
    assert item["target"] == "/v1/cohorts/C-unknown/feedback/export.csv"
    assert item["actor_id"] == ADMIN


def test_a_programme_manager_reads_the_entries_of_their_programmes_only(harness):
    from tests.integration.matching.conftest import EMPLOYEES
    from tests.helpers import wait_until

    client = harness.client
    for employee_id, (level, dept, manager, tz) in EMPLOYEES.items():
        harness.hire(employee_id, level=level, department=dept, manager_id=manager, tz=tz)
    mine, theirs = harness.cohort(status="enrolling"), harness.cohort(status="enrolling")
    program_id = client.get(f"/v1/cohorts/{mine}", headers=ADMIN_H).json["program_id"]
    assert client.put(f"/v1/programs/{program_id}/managers", json={"managers": ["E001"]},
                      headers=ADMIN_H).status_code == 200
    manager = token("E001")
    wait_until(lambda: client.get(f"/v1/cohorts/{mine}/enrollments", headers=manager).status_code == 200,
               timeout_s=20, message="the manager's scope to apply")
    assert client.get(f"/v1/cohorts/{theirs}/enrollments", headers=manager).status_code == 403

    seen = _audit(client, headers=manager)["items"]
    assert seen and {item["program_id"] for item in seen} == {program_id}
    assert ("GET /v1/cohorts/<cohort_id>/enrollments", f"/v1/cohorts/{mine}/enrollments", "E001") in {
        (item["action"], item["target"], item["actor_id"]) for item in seen}
    # the admin's programme-wide commands and the other cohort are not theirs to see
    assert not [item for item in seen if item["target"].startswith(f"/v1/cohorts/{theirs}")]
    assert not [item for item in seen if item["action"] == "POST /v1/programs"]
    # the admin sees everything, the refused attempt on the other cohort included
    refused = [item for item in _audit(client, limit=500)["items"]
               if item["target"] == f"/v1/cohorts/{theirs}/enrollments" and item["actor_id"] == "E001"]
    assert [item["status"] for item in refused] == [403]


def test_entries_past_the_retention_are_purged_by_the_workers_job_and_no_longer_listed(harness):
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace

    from shared.audit_log import AuditLogWriter
    from shared.clock import ManualClock
    from shared.worker import audit_retention_job

    client, context = harness.client, harness.context
    old_at = datetime.now(timezone.utc).replace(hour=12) - timedelta(days=2)
    old = {"_id": audit.entry_id(old_at), "actor_id": ADMIN, "action": "GET /v1/programs", "target": "/v1/programs",
           "status": 200, "at": old_at.isoformat(), "correlation_id": None, "program_id": None}
    AuditLogWriter(context.database).write(old, old_at)  # the service's first entry, two days ago
    # an entry of the layout before issue 16 (one document in `audit_trail`) is listed and purged too
    legacy = {**old, "_id": audit.entry_id(old_at - timedelta(days=1))}
    context.database[audit.COLLECTION].insert_one(legacy)
    assert client.post("/v1/programs", json={"name": "New"}, headers=ADMIN_H).status_code == 201
    listed = [item["entry_id"] for item in _audit(client, limit=500)["items"]]
    assert listed[-2:] == [old["_id"], legacy["_id"]] and len(listed) == 3

    days = context.settings.audit_retention_days
    clock = ManualClock(old_at + timedelta(days=days))
    job = audit_retention_job(SimpleNamespace(settings=context.settings, database=context.database, clock=clock))
    assert job.interval_s == context.settings.retention_interval_s  # as often as the other retention jobs
    assert job.run() == 1  # the legacy entry, a day older
    assert old["_id"] in {item["entry_id"] for item in _audit(client, limit=500)["items"]}
    clock.advance(days=1)  # the cut-off moves by whole days: gone within a day past the period
    assert job.run() == 1
    assert job.run() == 0  # once a day per worker: later ticks that day do not look again
    listed = [item["entry_id"] for item in _audit(client, limit=500)["items"]]
    assert old["_id"] not in listed and legacy["_id"] not in listed and len(listed) == 3  # the POST, two reads
    clock.advance(days=1)
    assert job.run() == 0  # the old layout's collection, emptied, is dropped: nothing looks at it again
    assert audit.COLLECTION not in context.database.list_collection_names()
    # nothing of the purged days is left to read: their buckets and markers are deleted by `_id`
    left = {doc["_id"] for doc in context.database[audit_log.KEYED].find()}
    assert not [i for i in left if f"|{old_at:%Y%m%d}" in i], left
