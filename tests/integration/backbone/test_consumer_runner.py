"""The consumer runner on real Kafka and MongoDB: HRIS records into the participants projection."""
from __future__ import annotations

import json
import threading
import uuid

import pytest
from kafka import KafkaProducer

from shared import topics
from shared.kafka import make_producer
from services.matching import bootstrap
from services.matching.worker import build_consumer
from tests.helpers import hris_upsert, read_topic, wait_until

pytestmark = pytest.mark.integration


def _publish(settings, records: list) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","))
    topic = topics.resolve(topics.HRIS_EMPLOYEES, settings.kafka_topic_prefix)
    for key, value in records:
        producer.send(topic, key=key.encode() if key else None,
                      value=value if isinstance(value, bytes) else json.dumps(value).encode())
    producer.flush()
    producer.close()


class RunningConsumer:
    def __init__(self, settings):
        self.runner = build_consumer(settings)
        self.thread = threading.Thread(target=self.runner.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.runner

    def __exit__(self, *exc):
        self.runner.stop()
        self.thread.join(timeout=30)


def _participants(settings) -> dict:
    context = bootstrap.build(settings)
    return {doc["_id"]: doc for doc in context.participants.collection.find({})}


def test_newest_profile_wins_whatever_the_order_and_redelivery(make_settings):
    settings = make_settings("matching")
    newer = hris_upsert("E1", occurred_at="2026-11-02T10:00:00Z", title="Staff Engineer", level=7)
    older = hris_upsert("E1", occurred_at="2026-11-01T10:00:00Z", title="Engineer", level=5)
    _publish(settings, [("E1", newer), ("E1", older), ("E1", newer), ("E2", hris_upsert("E2", occurred_at="2026-11-01T00:00:00Z"))])
    with RunningConsumer(settings) as runner:
        wait_until(lambda: runner.processed >= 4, message="4 records processed")
    people = _participants(settings)
    assert people["E1"]["title"] == "Staff Engineer" and people["E1"]["level"] == 7
    assert set(people) == {"E1", "E2"}


def test_termination_marks_the_person_and_an_older_upsert_does_not_undo_it(make_settings):
    settings = make_settings("matching")
    hired = hris_upsert("E7", occurred_at="2026-11-01T08:00:00Z")
    terminated = {"event_id": str(uuid.uuid4()), "event_type": "EmployeeTerminated", "schema_version": 1,
                  "occurred_at": "2026-11-03T08:00:00Z", "source": "workday",
                  "data": {"employee_id": "E7", "terminated_on": "2026-11-03"}}
    stale = hris_upsert("E7", occurred_at="2026-11-02T08:00:00Z", title="Late record")
    _publish(settings, [("E7", hired), ("E7", terminated), ("E7", stale)])
    with RunningConsumer(settings) as runner:
        wait_until(lambda: runner.processed >= 3, message="3 records processed")
    person = _participants(settings)["E7"]
    assert person["status"] == "terminated" and person["terminated_on"] == "2026-11-03"
    assert person["title"] == "Late record"  # profile fields still take the newest profile


def test_poison_records_are_dead_lettered_and_later_records_processed(make_settings):
    settings = make_settings("matching")
    bad_version = hris_upsert("E9", occurred_at="2026-11-01T00:00:00Z")
    bad_version["schema_version"] = 99
    bad_data = hris_upsert("E10", occurred_at="2026-11-01T00:00:00Z", level=42)
    _publish(settings, [
        ("E8", b"{this is not json"),
        ("E9", bad_version),
        ("E10", bad_data),
        ("E11", {"event_type": "SomethingNew", "event_id": str(uuid.uuid4()), "schema_version": 1,
                 "occurred_at": "2026-11-01T00:00:00Z", "source": "workday", "data": {"employee_id": "E11"}}),
        ("E12", hris_upsert("E12", occurred_at="2026-11-01T00:00:00Z")),
    ])
    with RunningConsumer(settings) as runner:
        wait_until(lambda: runner.processed >= 5, message="all five records handled")
    dead = read_topic(settings, topics.dlq(topics.HRIS_EMPLOYEES), expect=3)
    assert len(dead) == 3
    reasons = sorted(dict(r.headers)["dlq.error.reason"].decode() for r in dead)
    assert reasons == ["invalid_data", "invalid_json", "unknown_schema_version"]
    first = dead[0]
    headers = dict(first.headers)
    assert headers["dlq.consumer.group"] == b"matching-worker"
    assert headers["dlq.original.topic"].decode().endswith(topics.HRIS_EMPLOYEES)
    assert int(headers["dlq.original.offset"]) >= 0
    assert set(_participants(settings)) == {"E12"}  # the unknown type was skipped, not stored


def _all_records(settings):
    from kafka import KafkaConsumer, TopicPartition

    name = topics.resolve(topics.HRIS_EMPLOYEES, settings.kafka_topic_prefix)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","), group_id=None,
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
    settings = make_settings("matching")
    _publish(settings, [(f"E{i}", hris_upsert(f"E{i}", occurred_at="2026-11-01T00:00:00Z")) for i in range(30)])
    with RunningConsumer(settings) as runner:
        wait_until(lambda: runner.processed >= 30, message="first pass")
    before = _participants(settings)
    redelivered = _all_records(settings)
    assert sum(map(len, redelivered.values())) == 30

    # A worker that crashed before committing gets the same records again: below the stored
    # watermark they are recognised without touching the projection.
    again = build_consumer(settings)
    for tp, records in redelivered.items():
        again._process_partition(None, tp, records, commit=False)
    assert again.processed == 0
    assert _participants(settings) == before

    # Even with the watermarks lost, applying every record a second time changes nothing.
    again.watermarks.clear([tp.topic for tp in redelivered])
    for tp, records in redelivered.items():
        again._process_partition(None, tp, records, commit=False)
    assert again.processed == 30
    assert _participants(settings) == before


def test_rebuild_from_scratch_equals_the_live_projection(make_settings):
    settings = make_settings("matching")
    records = []
    for i in range(40):
        records.append((f"E{i % 15}", hris_upsert(f"E{i % 15}", occurred_at=f"2026-11-01T00:00:{i:02d}Z", level=1 + i % 10)))
    _publish(settings, records)
    with RunningConsumer(settings) as runner:
        wait_until(lambda: runner.processed >= 40, message="live pass")
    live = _participants(settings)
    applied = build_consumer(settings).rebuild()
    assert applied == 40
    assert _participants(settings) == live
