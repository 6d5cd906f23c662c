"""The consumer runner on real Kafka and MongoDB: HRIS records into a test-only people view.

Poison records are dead-lettered; anything that is not the record's fault (a newer schema
version, a database error, a handler bug) stops the partition, alerts and resumes.
"""
from __future__ import annotations

import json
import threading
import uuid

import pytest
from kafka import TopicPartition
from pymongo.errors import OperationFailure

from shared import topics
from shared.mongo import database_for
from tests.helpers import hris_upsert, read_topic, wait_until
from tests.integration.backbone.sample_views import GROUP, people_runner, publish
from shared.kafka import connection_options

pytestmark = pytest.mark.integration


class RunningConsumer:
    def __init__(self, runner):
        self.runner = runner
        self.thread = threading.Thread(target=self.runner.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.runner

    def __exit__(self, *exc):
        self.runner.stop()
        self.thread.join(timeout=30)


def _people(settings) -> dict:
    return {doc["_id"]: doc for doc in database_for(settings)["people"].find({})}


def _runner(settings, **kwargs):
    return people_runner(settings, database_for(settings), **kwargs)


def test_newest_profile_wins_whatever_the_order_and_redelivery(make_settings):
    settings = make_settings("backbone")
    newer = hris_upsert("E1", occurred_at="2026-11-02T10:00:00Z", title="Staff Engineer", level=7)
    older = hris_upsert("E1", occurred_at="2026-11-01T10:00:00Z", title="Engineer", level=5)
    publish(settings, topics.HRIS_EMPLOYEES,
            [("E1", newer), ("E1", older), ("E1", newer), ("E2", hris_upsert("E2", occurred_at="2026-11-01T00:00:00Z"))])
    with RunningConsumer(_runner(settings)) as runner:
        wait_until(lambda: runner.processed >= 4, message="4 records processed")
    people = _people(settings)
    assert people["E1"]["title"] == "Staff Engineer" and people["E1"]["level"] == 7
    assert set(people) == {"E1", "E2"}


def test_poison_records_are_dead_lettered_and_later_records_processed(make_settings):
    settings = make_settings("backbone")
    bad_version = hris_upsert("E9", occurred_at="2026-11-01T00:00:00Z")
    bad_version["schema_version"] = 0  # not a version at all: poison (a NEWER version pauses instead)
    bad_data = hris_upsert("E10", occurred_at="2026-11-01T00:00:00Z", level=42)
    publish(settings, topics.HRIS_EMPLOYEES, [
        ("E8", b"{this is not json"),
        ("E9", bad_version),
        ("E10", bad_data),
        ("E11", {"event_type": "SomethingNew", "event_id": str(uuid.uuid4()), "schema_version": 1,
                 "occurred_at": "2026-11-01T00:00:00Z", "source": "workday", "data": {"employee_id": "E11"}}),
        ("E12", hris_upsert("E12", occurred_at="2026-11-01T00:00:00Z")),
    ])
    with RunningConsumer(_runner(settings)) as runner:
        wait_until(lambda: runner.processed >= 5, message="all five records handled")
    dead = read_topic(settings, topics.dlq(topics.HRIS_EMPLOYEES), expect=3)
    assert len(dead) == 3
    reasons = sorted(dict(r.headers)["dlq.error.reason"].decode() for r in dead)
    assert reasons == ["invalid_data", "invalid_envelope", "invalid_json"]
    headers = dict(dead[0].headers)
    assert headers["dlq.consumer.group"] == GROUP.encode()
    assert headers["dlq.original.topic"].decode().endswith(topics.HRIS_EMPLOYEES)
    assert int(headers["dlq.original.offset"]) >= 0
    assert set(_people(settings)) == {"E12"}  # the unknown type was skipped, not stored


def _all_records(settings):
    from kafka import KafkaConsumer

    name = topics.resolve(topics.HRIS_EMPLOYEES, settings.kafka_topic_prefix)
    consumer = KafkaConsumer(**connection_options(settings), group_id=None,
                             enable_auto_commit=False)
    partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    by_partition = {}
    for _ in range(10):
        for tp, batch in consumer.poll(timeout_ms=500).items():
            by_partition.setdefault(tp, []).extend(batch)
    consumer.close()
    return by_partition


def test_redelivery_changes_nothing_and_below_the_watermark_writes_nothing(make_settings):
    settings = make_settings("backbone")
    publish(settings, topics.HRIS_EMPLOYEES,
            [(f"E{i}", hris_upsert(f"E{i}", occurred_at="2026-11-01T00:00:00Z")) for i in range(30)])
    with RunningConsumer(_runner(settings)) as runner:
        wait_until(lambda: runner.processed >= 30, message="first pass")
    before = _people(settings)
    redelivered = _all_records(settings)
    assert sum(map(len, redelivered.values())) == 30

    # A worker that crashed before committing gets the same records again: below the stored
    # watermark they are recognised without touching the projection.
    again = _runner(settings)
    for tp, records in redelivered.items():
        again._process_partition(None, tp, records, commit=False)
    assert again.processed == 0
    assert _people(settings) == before

    # Even with the watermarks lost, applying every record a second time changes nothing.
    again.watermarks.clear([tp.topic for tp in redelivered])
    for tp, records in redelivered.items():
        again._process_partition(None, tp, records, commit=False)
    assert again.processed == 30
    assert _people(settings) == before


def test_in_place_rebuild_from_scratch_equals_the_live_projection(make_settings):
    settings = make_settings("backbone")
    records = [(f"E{i % 15}", hris_upsert(f"E{i % 15}", occurred_at=f"2026-11-01T00:00:{i:02d}Z", level=1 + i % 10))
               for i in range(40)]
    publish(settings, topics.HRIS_EMPLOYEES, records)
    with RunningConsumer(_runner(settings)) as runner:
        wait_until(lambda: runner.processed >= 40, message="live pass")
    live = _people(settings)
    assert _runner(settings).rebuild() == 40
    assert _people(settings) == live


def _paused_gauge(settings, reason: str) -> float:
    from prometheus_client import REGISTRY

    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name != "mentoring_consumer_partition_paused":
            continue
        for sample in metric.samples:
            labels = sample.labels
            if labels.get("group") == GROUP and labels.get("reason") == reason and labels.get("service") == settings.service_name:
                total += sample.value
    return total


def test_a_newer_schema_version_pauses_the_partition_and_a_deploy_reads_it(make_settings):
    settings = make_settings("backbone")
    future = hris_upsert("E1", occurred_at="2026-11-02T00:00:00Z", title="From the future")
    future["schema_version"] = 2  # this code knows EmployeeUpserted v1 only
    publish(settings, topics.HRIS_EMPLOYEES,
            [("E1", hris_upsert("E1", occurred_at="2026-11-01T00:00:00Z", title="Before")), ("E1", future),
             ("E1", hris_upsert("E1", occurred_at="2026-11-03T00:00:00Z", title="After"))])
    runner = _runner(settings, max_pause_s=1.0)
    with RunningConsumer(runner):
        wait_until(lambda: runner.paused(), message="the partition paused")
        assert list(runner.paused().values()) == ["unknown_schema_version"]
        assert _paused_gauge(settings, "unknown_schema_version") >= 1
        assert _people(settings)["E1"]["title"] == "Before"  # nothing behind the new version applied
    # nothing dead-lettered: the record is not poison
    assert read_topic(settings, topics.dlq(topics.HRIS_EMPLOYEES), expect=1, timeout_s=2) == []

    # "The deploy": code that knows v2 (with an upcaster from v1) reads on from the paused record.
    from marshmallow import fields
    from tests.integration.backbone.sample_views import hris_registry

    registry = hris_registry()
    v1 = registry._schemas[("EmployeeUpserted", 1)]
    registry.register("EmployeeUpserted", 2, type("EmployeeUpsertedV2", (v1,), {"nickname": fields.String(load_default=None)}))
    registry.register_upcaster("EmployeeUpserted", 1, lambda data: {**data, "nickname": None})
    deployed = _runner(settings)
    deployed.registry = registry
    with RunningConsumer(deployed):
        wait_until(lambda: _people(settings)["E1"]["title"] == "After", message="the new code read on")
    assert not deployed.paused()


def test_a_database_error_in_a_handler_stops_the_partition_and_resumes_without_a_gap(make_settings):
    settings = make_settings("backbone")
    publish(settings, topics.HRIS_EMPLOYEES,
            [("E1", hris_upsert("E1", occurred_at="2026-11-01T00:00:00Z", title="One")),
             ("E1", hris_upsert("E1", occurred_at="2026-11-02T00:00:00Z", title="Two"))])
    runner = _runner(settings, max_pause_s=0.5)
    view = runner.projections[0]
    view.fail_with = OperationFailure("disk full (test)", code=14031)
    with RunningConsumer(runner):
        wait_until(lambda: runner.paused(), message="the partition paused")
        assert list(runner.paused().values()) == ["database_error"]
        assert _paused_gauge(settings, "database_error") >= 1
        view.fail_with = None  # the operator frees the disk: the partition resumes by itself
        wait_until(lambda: _people(settings).get("E1", {}).get("title") == "Two", message="resumed")
        wait_until(lambda: not runner.paused(), message="pause cleared")
    assert read_topic(settings, topics.dlq(topics.HRIS_EMPLOYEES), expect=1, timeout_s=2) == []


def test_a_handler_bug_pauses_instead_of_dead_lettering(make_settings):
    settings = make_settings("backbone")
    publish(settings, topics.HRIS_EMPLOYEES, [("E1", hris_upsert("E1", occurred_at="2026-11-01T00:00:00Z"))])
    runner = _runner(settings, max_pause_s=0.5)
    runner.projections[0].fail_with = KeyError("a bug")
    with RunningConsumer(runner):
        wait_until(lambda: runner.paused(), message="the partition paused")
        assert list(runner.paused().values()) == ["handler_error"]
        runner.projections[0].fail_with = None  # "the fix is deployed"
        wait_until(lambda: "E1" in _people(settings), message="applied after the fix")
    assert read_topic(settings, topics.dlq(topics.HRIS_EMPLOYEES), expect=1, timeout_s=2) == []


def _publish_in_transactions(settings, batches: list[tuple[list, bool]]) -> None:
    """Each (records, commit) is one Kafka transaction, committed or aborted (as the relay does)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(**connection_options(settings),
                             transactional_id=f"test-{uuid.uuid4().hex[:8]}", enable_idempotence=True)
    producer.init_transactions()
    name = topics.resolve(topics.HRIS_EMPLOYEES, settings.kafka_topic_prefix)
    for records, commit in batches:
        producer.begin_transaction()
        for key, value in records:
            producer.send(name, key=key.encode(), value=json.dumps(value).encode())
        producer.flush()
        if commit:
            producer.commit_transaction()
        else:
            producer.abort_transaction()
    producer.close()


def test_records_of_aborted_transactions_are_never_applied_and_a_replay_ends_at_the_commit_marker(make_settings):
    settings = make_settings("backbone")
    _publish_in_transactions(settings, [
        ([("E1", hris_upsert("E1", occurred_at="2026-11-01T00:00:00Z", title="committed"))], True),
        ([("E1", hris_upsert("E1", occurred_at="2026-11-02T00:00:00Z", title="aborted")),
          ("E2", hris_upsert("E2", occurred_at="2026-11-02T00:00:00Z"))], False),
        ([("E3", hris_upsert("E3", occurred_at="2026-11-01T00:00:00Z"))], True),
    ])
    with RunningConsumer(_runner(settings)) as runner:
        wait_until(lambda: runner.processed >= 2, message="the committed records")
        # a caught-up group's watermarks reach the end offsets (past the trailing commit markers)
        ends = {(tp.topic, tp.partition): end for tp, end in _end_offsets(settings).items() if end}
        wait_until(lambda: {k: runner.watermarks.get(*k) for k in ends} == ends, message="watermarks at the ends")
    assert {k: v["title"] for k, v in _people(settings).items()} == {"E1": "committed", "E3": None}
    # a rebuild's replay stops at the end offsets although the last offsets are transaction markers
    replayed = _runner(settings)
    assert replayed.rebuild(idle_timeout_s=5) == 2
    assert set(_people(settings)) == {"E1", "E3"}
    assert {k: replayed.watermarks.get(*k) for k in ends} == ends


def _end_offsets(settings) -> dict:
    from kafka import KafkaConsumer

    name = topics.resolve(topics.HRIS_EMPLOYEES, settings.kafka_topic_prefix)
    consumer = KafkaConsumer(**connection_options(settings), group_id=None,
                             isolation_level="read_committed")
    try:
        return consumer.end_offsets([TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name))])
    finally:
        consumer.close()
