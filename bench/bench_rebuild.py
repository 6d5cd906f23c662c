"""Rebuild: the participants projection rebuilt by replaying at least 1,000,000 HRIS events,
beside the raw kafka-python consume rate of the same topic."""
from __future__ import annotations

import json
import os
import time
import uuid

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.harness import drop, isolated_settings, new_run
from shared import topics
from shared.kafka import ensure_topics, connection_options

EVENTS = int(os.environ.get("BENCH_REBUILD_EVENTS", "1000000"))
TIMEZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Asia/Tokyo", "Europe/Berlin", "America/Sao_Paulo"]


def _publish(settings, count: int) -> None:
    producer = KafkaProducer(**connection_options(settings), acks=1, linger_ms=50,
                             batch_size=512 * 1024, compression_type=None)
    topic = topics.resolve(topics.HRIS_EMPLOYEES, settings.kafka_topic_prefix)
    for i in range(count):
        employee = f"B{i:07d}"
        record = {"event_id": str(uuid.uuid4()), "event_type": "EmployeeUpserted", "schema_version": 1,
                  "occurred_at": f"2026-11-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z",
                  "source": "bench",
                  "data": {"employee_id": employee, "display_name": f"Person {i}", "level": 1 + i % 10,
                           "manager_id": f"B{i // 8:07d}" if i else None, "department": f"D{i % 12}",
                           "languages": ["en"], "skills": ["python", "leadership"], "timezone": TIMEZONES[i % 6],
                           "title": "Engineer", "email": f"p{i}@example.com", "hire_date": "2020-01-01"}}
        producer.send(topic, key=employee.encode(), value=json.dumps(record).encode())
    producer.flush()
    producer.close()


def raw_consume_rate(settings, count: int, contract_topic: str = topics.HRIS_EMPLOYEES) -> float:
    """Records per second a bare kafka-python consumer reads (and json-decodes) a topic (the HRIS one
    by default) from offset 0: every apply-rate benchmark's baseline."""
    topic = topics.resolve(contract_topic, settings.kafka_topic_prefix)
    consumer = KafkaConsumer(**connection_options(settings), group_id=None,
                             enable_auto_commit=False, max_poll_records=settings.consumer_max_poll_records)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    seen = 0
    started = time.perf_counter()
    while seen < count:
        for batch in consumer.poll(timeout_ms=500).values():
            for record in batch:
                json.loads(record.value)
            seen += len(batch)
    elapsed = time.perf_counter() - started
    consumer.close()
    return count / elapsed


def run() -> list[dict]:
    from services.matching.worker import build_consumer

    settings = isolated_settings("matching", new_run())
    ensure_topics(settings)
    try:
        started = time.perf_counter()
        _publish(settings, EVENTS)
        publish_s = time.perf_counter() - started
        raw_rate = raw_consume_rate(settings, EVENTS)
        started = time.perf_counter()
        applied = build_consumer(settings).rebuild(idle_timeout_s=60)
        rebuild_rate = applied / (time.perf_counter() - started)
    finally:
        drop(settings)
    return [{"benchmark": f"projection rebuild from {EVENTS:,} events", "unit": "events/s",
             "value": round(rebuild_rate, 1), "baseline": "raw kafka-python consume (+json.loads)",
             "baseline_value": round(raw_rate, 1), "ratio": round(rebuild_rate / raw_rate, 4),
             "note": f"published in {publish_s:.0f}s; {applied} applied"}]


if __name__ == "__main__":
    for row in run():
        print(row)
