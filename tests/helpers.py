"""Small helpers for tests that talk to the real Kafka."""
from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from contextlib import contextmanager

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from shared import topics
from shared.consumer import RecordAt, consuming
from shared.kafka import connection_options


def read_topic(settings, contract_topic: str, *, expect: int, timeout_s: float = 30) -> list:
    """All records on a topic from offset 0, waiting until at least `expect` are there."""
    name = topics.resolve(contract_topic, settings.kafka_topic_prefix)
    # read_committed: the relays publish in Kafka transactions; an aborted attempt is not on the topic.
    consumer = KafkaConsumer(**connection_options(settings),
                             enable_auto_commit=False, group_id=None, isolation_level="read_committed")
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
            if len(records) >= expect:
                # one more short poll so "more than expected" shows up too
                for batch in consumer.poll(timeout_ms=300).values():
                    records.extend(batch)
                break
        return records
    finally:
        consumer.close()


def delete_topics(settings) -> None:
    """Delete every topic of the test's prefix. Each test creates ten topics of its own (the contract
    topics and their dead-letter topics): left behind, a shared broker ends up holding tens of
    thousands of partitions and stops starting ("Too many open files")."""
    prefix = settings.kafka_topic_prefix
    if not prefix:
        return  # never the un-prefixed topics of a local run
    admin = KafkaAdminClient(**connection_options(settings), request_timeout_ms=30000)
    try:
        names = [name for name in admin.list_topics() if name.startswith(prefix)]
        if names:
            admin.delete_topics(names, timeout_ms=30000)
    finally:
        admin.close()


def decode(record) -> dict:
    return json.loads(record.value)


def wait_until(predicate, *, timeout_s: float = 30, interval_s: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {message} (last: {last!r})")


def run_in_thread(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def hris_upsert(employee_id: str, *, occurred_at: str, **data) -> dict:
    payload = {"employee_id": employee_id, "display_name": f"Person {employee_id}", "level": 5,
               "languages": ["en"], "skills": ["python"], "timezone": "Europe/London", "department": "Engineering",
               "manager_id": None}
    payload.update(data)
    return {"event_id": str(uuid.uuid4()), "event_type": "EmployeeUpserted", "schema_version": 1,
            "occurred_at": occurred_at, "source": "workday", "data": payload}


def start_projector(context, *, caught_up_s: float | None = None):
    """The store projector of a service's `context` on a thread (the worker's job); returns the
    function that stops it. With `caught_up_s`, first waits until it has applied everything stored
    so far, so a request that waits for a read model finds it."""
    stop = threading.Event()
    thread = threading.Thread(target=context.projector.run, args=(stop,), daemon=True)
    thread.start()

    def halt():
        stop.set()
        thread.join(timeout=30)
    if caught_up_s is not None and not context.projector.wait_for(context.store.current_position(),
                                                                   timeout_s=caught_up_s):
        halt()
        raise AssertionError(f"the store projector did not catch up within {caught_up_s} s")
    return halt


@contextmanager
def projecting(context, *, caught_up_s: float = 30):
    """`start_projector` for the length of a `with` block, caught up on entry."""
    halt = start_projector(context, caught_up_s=caught_up_s)
    try:
        yield
    finally:
        halt()


_OFFSETS = itertools.count(1)  # each record applied by hand a later offset than the last


def apply_consumed(projection, envelope, *, partition: int = 0) -> None:
    """Apply `envelope` as a consumer runner does, without Kafka: its handler knows the record it came
    from (`shared.consumer.record_of`: the partition given, the next offset)."""
    with consuming({envelope.event_id: RecordAt(topic="", partition=partition, offset=next(_OFFSETS))}):
        projection.handlers()[envelope.event_type](envelope)
