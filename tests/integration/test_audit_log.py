"""The audit trail's keyed layout on the real server (issue 16): writers racing in one hour lose
no entry, and a page walks newest first by `_id` reads, across empty hours and days, with a
number of reads that does not grow with the trail."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from shared import audit_log
from shared.http import audit
from shared.mongo import database_for

pytestmark = pytest.mark.integration


@pytest.fixture
def database(make_settings):
    return database_for(make_settings("matching"))


def _entry(at: datetime, actor: str, program: str | None = None) -> dict:
    return {"_id": audit.entry_id(at), "actor_id": actor, "action": "GET /v1/x", "target": "/v1/x", "status": 200,
            "at": at.isoformat(), "correlation_id": None, "program_id": program}


def _walk(database, *, now, limit, program_ids=None, actor_id=None) -> list[dict]:
    seen, cursor = [], None
    while True:
        items, cursor = audit.page(database, program_ids=program_ids, actor_id=actor_id, before=cursor,
                                   limit=limit, now=now)
        seen += items
        if not cursor:
            return seen


def test_writers_racing_in_one_hour_lose_nothing_and_every_filter_lists_its_entries(database):
    # 3 "processes" (a writer each) of 3 threads, 180 entries, all in the two minutes around an hour:
    # their slots collide
    now = datetime.now(timezone.utc).replace(minute=1, second=0, microsecond=0)
    writers = [audit_log.AuditLogWriter(database) for _ in range(3)]
    written: list[dict] = []
    lock = threading.Lock()

    def work(writer, thread: int):
        for n in range(20):
            at = now - timedelta(seconds=(n * 7 + thread) % 120)  # across the hour before `now`
            entry = _entry(at, f"E{thread % 2}", "P1" if n % 3 == 0 else None)
            writer.write(entry, at)
            with lock:
                written.append(entry)

    threads = [threading.Thread(target=work, args=(w, t)) for w in writers for t in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(written) == 180

    def ids(entries):
        return [e["_id"] for e in entries]

    newest_first = sorted(written, key=lambda e: e["_id"], reverse=True)
    assert ids(_walk(database, now=now, limit=40)) == ids(newest_first)
    assert ids(_walk(database, now=now, limit=25, actor_id="E1")) == ids(e for e in newest_first if e["actor_id"] == "E1")
    assert ids(_walk(database, now=now, limit=50, program_ids={"P1", "P2"})) == ids(
        e for e in newest_first if e["program_id"] == "P1")
    assert ids(_walk(database, now=now, limit=7, program_ids={"P1"}, actor_id="E0")) == ids(
        e for e in newest_first if e["program_id"] == "P1" and e["actor_id"] == "E0")
    assert audit.page(database, program_ids={"P2"}, actor_id=None, before=None, limit=5, now=now) == ([], None)


def test_an_entry_made_before_midnight_and_stored_after_the_first_one_past_it_is_listed(database):
    """The trail's first entries: one writer stores an entry made just past midnight, another then
    stores its entry made just before it (requests audited after they answered, writers racing)."""
    midnight = datetime(2026, 11, 28, tzinfo=timezone.utc)
    after, before = _entry(midnight + timedelta(seconds=30), "E1"), _entry(midnight - timedelta(seconds=30), "E2")
    audit_log.AuditLogWriter(database).write(after, midnight + timedelta(seconds=30))
    audit_log.AuditLogWriter(database).write(before, midnight - timedelta(seconds=30))
    now = midnight + timedelta(minutes=5)
    assert [e["_id"] for e in _walk(database, now=now, limit=10)] == [after["_id"], before["_id"]]
    assert [e["_id"] for e in _walk(database, now=now, limit=10, actor_id="E2")] == [before["_id"]]


def test_a_page_steps_over_empty_hours_days_and_months_with_a_bounded_number_of_reads(database):
    now = datetime.now(timezone.utc).replace(minute=30)
    times = [now - timedelta(days=70, hours=5), now - timedelta(days=40), now - timedelta(days=3, hours=2),
             now - timedelta(hours=5, minutes=7), now - timedelta(hours=5), now - timedelta(minutes=1)]
    writer = audit_log.AuditLogWriter(database)
    entries = [_entry(at, "A1" if i % 2 else "A2") for i, at in enumerate(times)]  # oldest first (origin)
    for entry, at in zip(entries, times):
        writer.write(entry, at)
    newest_first = [e["_id"] for e in reversed(entries)]
    assert [e["_id"] for e in _walk(database, now=now, limit=4)] == newest_first
    assert [e["_id"] for e in _walk(database, now=now, limit=2, actor_id="A1")] == newest_first[0::2]

    # a cursor from the far future (or not an entry id) starts at now, not at its year 9999
    first = audit.page(database, program_ids=None, actor_id=None, before=None, limit=3, now=now)
    for cursor in ("99991231T235959999999Z", "not-an-entry-id"):
        assert audit.page(database, program_ids=None, actor_id=None, before=cursor, limit=3, now=now) == first

    # the walk reads markers, not every hour: past 70 days of mostly nothing in about as many reads
    reader = audit_log.AuditLogReader(database)
    found = list(reader.entries([audit_log.ALL], now + audit.CLOCK_SKEW, None))
    assert [e["_id"] for e in found] == newest_first
    assert reader.reads <= 150, reader.reads  # 120 here: ~72 day markers, then quarters, hours and slots of 4 days


def test_retention_deletes_the_old_days_buckets_and_markers_by_id(database):
    start = datetime(2026, 1, 31, 23, 57, tzinfo=timezone.utc)
    writer = audit_log.AuditLogWriter(database)
    for n in range(120):  # busy minutes across a month's end: several buckets in an hour
        at = start + timedelta(seconds=n * 2)
        writer.write(_entry(at, f"E{n % 3}", "P1" if n % 2 else None), at)
    later = datetime(2026, 2, 3, 10, 0, tzinfo=timezone.utc)
    writer.write(_entry(later, "E0", "P1"), later)

    assert audit_log.purge_before(database, datetime(2026, 2, 1).date()) == 90  # the three minutes of Jan 31
    assert audit_log.purge_before(database, datetime(2026, 2, 1).date()) == 0  # done: origin moved
    left = sorted(doc["_id"] for doc in database[audit_log.KEYED].find())
    assert not [i for i in left if "|202601" in i], left
    remaining = _walk(database, now=later, limit=4)
    assert len(remaining) == 31 and all(e["at"] >= "2026-02-01" for e in remaining)
    assert audit_log.purge_before(database, datetime(2026, 2, 4).date()) == 31
    assert [doc["_id"] for doc in database[audit_log.KEYED].find()] == ["origin"]
    assert _walk(database, now=later, limit=4) == []


def test_an_entry_that_cannot_be_written_is_counted_as_failed_and_the_next_one_is_written(database, monkeypatch):
    from flask import Flask, g
    from pymongo.errors import AutoReconnect

    from shared.http.auth import Principal
    from shared.metrics import AUDIT_ENTRIES

    app = Flask(__name__)
    app.add_url_rule("/v1/programs", "programs", lambda: "")
    writer = audit_log.AuditLogWriter(database)

    def counted(outcome):
        return AUDIT_ENTRIES.labels("matching", "GET /v1/programs", outcome)._value.get()

    def admin_request():
        with app.test_request_context("/v1/programs"):
            app.preprocess_request()
            g.principal = Principal("A9", frozenset({"admin"}))
            entry = audit.entry_for(200)  # built during the request, written once the response is sent
        audit.write(writer, "matching", entry)

    def down(*args, **kwargs):
        raise AutoReconnect("the server is away")

    failed, recorded = counted("failed"), counted("recorded")
    with monkeypatch.context() as patch:
        patch.setattr(writer.collection, "insert_many", down)
        admin_request()  # does not raise: the request's answer stands
    assert (counted("failed"), counted("recorded")) == (failed + 1, recorded)
    admin_request()
    assert counted("recorded") == recorded + 1
    items, _ = audit.page(database, program_ids=None, actor_id="A9", before=None, limit=5)
    assert len(items) == 1
