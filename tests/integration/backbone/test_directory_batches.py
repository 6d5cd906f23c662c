"""The HRIS directory fed in batches (one write per poll) on real Kafka and MongoDB.

Every record of these tests goes to one partition and is published before the runner starts, so
a poll hands the runner all of them at once: the batched path (`DirectoryProjection.apply_batch`)
is what applies them.
"""
from __future__ import annotations

import threading

import pytest

from shared import topics
from shared.consumer import ConsumerRunner
from shared.directory import DirectoryProjection
from shared.erasure import ErasedPeople
from shared.events.catalog import default_registry
from shared.kafka import make_producer
from shared.mongo import database_for
from tests.helpers import hris_upsert, read_topic, wait_until
from tests.integration.backbone.sample_views import publish

pytestmark = pytest.mark.integration

GROUP = "directory-batches"


def _terminated(employee_id: str, *, occurred_at: str, on: str) -> dict:
    record = hris_upsert(employee_id, occurred_at=occurred_at)
    record.update(event_type="EmployeeTerminated", data={"employee_id": employee_id, "terminated_on": on})
    return record


def _runner(settings) -> ConsumerRunner:
    database = database_for(settings)
    return ConsumerRunner(settings, group_id=GROUP, projections=[DirectoryProjection(database)],
                          registry=default_registry(), database=database, producer=make_producer(settings))


def _run_until(runner: ConsumerRunner, count: int) -> None:
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: runner.processed >= count, message=f"{count} records handled")
    finally:
        runner.stop()
        thread.join(timeout=30)


def _people(settings) -> dict:
    return {doc["_id"]: doc for doc in database_for(settings)["participants"].find({})}


def _one_partition(records):
    # one key for all: one partition, in this order (the directory reads the person from `data`)
    return [("same-partition", record) for record in records]


def test_out_of_order_and_repeated_records_in_one_batch_resolve_to_the_newest(make_settings):
    settings = make_settings("backbone")
    newest = hris_upsert("E1", occurred_at="2026-11-03T09:00:00Z", display_name="Ada Newest", level=7)
    records = [
        newest,
        hris_upsert("E1", occurred_at="2026-11-01T09:00:00Z", display_name="Ada Oldest", level=3),
        _terminated("E1", occurred_at="2026-11-02T09:00:00Z", on="2026-11-02"),  # older than the newest upsert
        newest,  # redelivered
        hris_upsert("E2", occurred_at="2026-11-01T09:00:00Z", display_name="Bob"),
        _terminated("E2", occurred_at="2026-11-02T09:00:00Z", on="2026-11-02"),
        hris_upsert("E2", occurred_at="2026-10-01T09:00:00Z", display_name="Bob Before"),  # late and old
    ]
    publish(settings, topics.HRIS_EMPLOYEES, _one_partition(records))
    _run_until(_runner(settings), len(records))
    people = _people(settings)
    assert people["E1"]["display_name"] == "Ada Newest" and people["E1"]["level"] == 7
    assert people["E1"]["status"] == "active"
    assert people["E2"]["display_name"] == "Bob" and people["E2"]["status"] == "terminated"

    # the same records again (a replay): nothing changes
    before = _people(settings)
    publish(settings, topics.HRIS_EMPLOYEES, _one_partition(records))
    _run_until(_runner(settings), len(records))
    assert _people(settings) == before


def test_a_poison_record_inside_a_batch_is_dead_lettered_and_the_rest_applied(make_settings):
    settings = make_settings("backbone")
    records = [hris_upsert(f"E{i}", occurred_at="2026-11-01T09:00:00Z") for i in range(5)]
    records.insert(2, hris_upsert("E99", occurred_at="2026-11-01T09:00:00Z", level=99))
    records.insert(4, hris_upsert("E98", occurred_at="2026-11-01T09:00:00Z", languages=["english"]))
    publish(settings, topics.HRIS_EMPLOYEES, _one_partition(records))
    _run_until(_runner(settings), len(records))
    assert set(_people(settings)) == {f"E{i}" for i in range(5)}
    dead = read_topic(settings, topics.dlq(topics.HRIS_EMPLOYEES), expect=2)
    messages = sorted(dict(r.headers)["dlq.error.message"].decode() for r in dead)
    assert len(messages) == 2
    assert "languages" in messages[0] and "level" in messages[1]  # the field is named
    assert {dict(r.headers)["dlq.error.reason"] for r in dead} == {b"invalid_data"}


class _Crash(BaseException):
    """The process dies (not an Exception: nothing in the runner may catch it)."""


def test_a_crash_between_the_batch_write_and_the_commit_reapplies_without_changing_the_result(make_settings):
    settings = make_settings("backbone")
    records = [hris_upsert("E1", occurred_at="2026-11-02T09:00:00Z", display_name="Newer"),
               hris_upsert("E1", occurred_at="2026-11-01T09:00:00Z", display_name="Older"),
               _terminated("E2", occurred_at="2026-11-02T09:00:00Z", on="2026-11-02"),
               hris_upsert("E3", occurred_at="2026-11-01T09:00:00Z", display_name="Cy")]
    ErasedPeople(database_for(settings)).record("E3", at="2026-11-01T00:00:00Z", source="test")
    publish(settings, topics.HRIS_EMPLOYEES, _one_partition(records))

    crashing = _runner(settings)
    written = threading.Event()

    def crash(*args, **kwargs):  # the batch is written; the process dies before its bookkeeping
        written.set()
        raise _Crash()

    crashing.watermarks.save = crash
    with pytest.raises(_Crash):
        crashing.run()
    assert written.is_set()
    after_crash = _people(settings)
    assert after_crash["E1"]["display_name"] == "Newer"

    again = _runner(settings)  # the next process of the group: nothing was committed, all is read again
    _run_until(again, len(records))
    assert again.processed == len(records)
    people = _people(settings)
    assert people == after_crash
    assert people["E2"]["status"] == "terminated"
    assert people["E3"].get("erased") and "Cy" not in str(people["E3"])  # an erased person stays out


def test_a_rebuild_through_the_write_behind_replay_equals_the_live_directory(make_settings):
    settings = make_settings("backbone")
    records = []
    for i in range(300):
        person = f"E{i % 40}"
        records.append((person, hris_upsert(person, occurred_at=f"2026-11-{1 + (i * 7) % 28:02d}T09:00:00Z",
                                            display_name=f"Name {i}", level=1 + i % 10)))
        if i % 37 == 0:
            records.append((person, _terminated(person, occurred_at=f"2026-11-{1 + (i * 5) % 28:02d}T10:00:00Z",
                                                on="2026-11-15")))
    records.append(("E5", b"{poison"))
    ErasedPeople(database_for(settings)).record("E7", at="2026-11-01T00:00:00Z", source="test")
    publish(settings, topics.HRIS_EMPLOYEES, records)
    _run_until(_runner(settings), len(records))
    live = _people(settings)
    assert live["E7"].get("erased")

    assert _runner(settings).rebuild(idle_timeout_s=30) == len(records)  # every record handled (the poison skipped)
    assert _people(settings) == live
