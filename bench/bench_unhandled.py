"""Matching's worker over a busy topic it reads for one event type (issue 13, privacy item 5).

Matching's consumer group follows the sessions topic only for sessions' `PersonErased`. Here the
sessions topic holds N `MeetingScheduled` (valid, current version) and nothing else: every record
is one the group reads past. The live runner (`run()`, its own consumer group, the matching
worker's projections and registry) is timed from its first saved watermark to the topic's end,
beside the same runner decoding every record fully (envelope and data validation, as before the
change), alternating, same topic, same run; the median of each is reported, and a bare
kafka-python read (+ `json.loads`) of the topic as the ceiling.
"""
from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import replace

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.bench_rebuild import raw_consume_rate
from bench.harness import drop, isolated_settings, new_run
from shared import topics
from shared.config import Settings
from shared.consumer import ConsumerRunner
from shared.events.envelope import new_event
from shared.kafka import connection_options, ensure_topics
from shared.mongo import client_for

EVENTS = 20_000
ROUNDS = 3


class FullDecodeRunner(ConsumerRunner):
    """The baseline: every record decoded and validated, whatever its type (the runner before)."""

    def _decode(self, contract_topic: str, record):
        return self.registry.decode(record.value, inbound_hris=contract_topic == topics.HRIS_EMPLOYEES)


def _meetings(count: int) -> list[bytes]:
    return [new_event(event_type="MeetingScheduled", schema_version=2, producer="sessions", aggregate_type="meeting",
                      aggregate_id=f"m-{n}", aggregate_version=1, correlation_id="bench", causation_id=None,
                      data={"meeting_id": f"m-{n}", "pairing_id": f"p-{n % 500}", "cohort_id": "c-1",
                            "mentor_id": f"e-{n % 700}", "mentee_id": f"e-{n % 900 + 1000}", "organizer_id": f"e-{n % 700}",
                            "starts_at": "2026-12-01T09:00:00.000Z", "duration_minutes": 45, "timezone": "Europe/Berlin",
                            "actor_id": f"e-{n % 700}"}).to_json() for n in range(count)]


def _publish(settings: Settings, values: list[bytes]) -> None:
    producer = KafkaProducer(**connection_options(settings), linger_ms=20, batch_size=256 * 1024)
    name = topics.resolve(topics.SESSIONS, settings.kafka_topic_prefix)
    for n, value in enumerate(values):
        producer.send(name, key=f"m-{n}".encode(), value=value)
    producer.flush()
    producer.close()


def _end_offsets(settings: Settings) -> dict[int, int]:
    name = topics.resolve(topics.SESSIONS, settings.kafka_topic_prefix)
    consumer = KafkaConsumer(**connection_options(settings))
    partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name))]
    ends = {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
    consumer.close()
    return ends


def _time_runner(settings: Settings, runner_class: type[ConsumerRunner], ends: dict[int, int], tag: str) -> float:
    """Records per second the live runner reads the sessions topic at (its own group and database),
    from its first saved watermark to the end: the group's join is not the runner's throughput."""
    from services.matching import bootstrap

    run_settings = replace(settings, mongo_database=f"{settings.mongo_database}_{tag}")
    context = bootstrap.build(run_settings)
    runner = runner_class(run_settings, group_id=f"bench-unhandled-{tag}", projections=context.projections(),
                          registry=bootstrap.registry(), database=context.database, producer=_NoDeadLetters())
    name = topics.resolve(topics.SESSIONS, settings.kafka_topic_prefix)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    total = sum(ends.values())
    first: tuple[float, int] | None = None
    try:
        deadline = time.perf_counter() + 120
        while True:
            now, read = time.perf_counter(), sum(runner.watermarks.get(name, p) for p in ends)
            if first is None and read > 0:
                first = (now, read)
            if read >= total:
                break
            if now > deadline:
                raise RuntimeError(f"{tag}: the runner did not reach the end in 120 s")
            time.sleep(0.002)
    finally:
        runner.stop()
        thread.join(timeout=30)
        client_for(settings.mongo_url).drop_database(run_settings.mongo_database)
    if first is None or first[1] >= total:
        raise RuntimeError(f"{tag}: the topic was read in one poll: too few records to time")
    return (total - first[1]) / (now - first[0])


def _decode_cost_us(settings: Settings, values: list[bytes]) -> dict[str, float]:
    """CPU per record of the runner's decode step alone (no Kafka, no database), best of 3, in µs:
    what the change saves whatever the machine's load does to the end-to-end figures."""
    from services.matching import bootstrap

    context = bootstrap.build(settings)
    record = [type("Record", (), {"value": value}) for value in values]
    costs = {}
    for label, runner_class in (("skip", ConsumerRunner), ("full", FullDecodeRunner)):
        runner = runner_class(settings, group_id="bench-unhandled-decode", projections=context.projections(),
                              registry=bootstrap.registry(), database=context.database, producer=_NoDeadLetters())
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for r in record:
                runner._decode(topics.SESSIONS, r)
            best = min(best, time.perf_counter() - started)
        costs[label] = best / len(values) * 1e6
    return costs


def _raw_rate(settings: Settings, count: int) -> float:
    """Records per second a bare kafka-python consumer reads (and json-decodes) the topic at: the ceiling."""
    return raw_consume_rate(settings, count, topics.SESSIONS)


class _NoDeadLetters:
    """Every record here is valid: a dead letter would make the figures meaningless."""

    def send(self, *args, **kwargs):
        raise RuntimeError("the bench topic holds no poison")


def run(count: int = EVENTS, rounds: int = ROUNDS) -> list[dict]:
    settings = isolated_settings("matching", new_run())
    ensure_topics(settings)
    try:
        values = _meetings(count)
        _publish(settings, values)
        ends = _end_offsets(settings)
        load_before = os.getloadavg()[0]
        skipping, decoding = [], []
        for n in range(rounds):  # alternating, so load drifts touch both alike
            decoding.append(_time_runner(settings, FullDecodeRunner, ends, f"full{n}"))
            skipping.append(_time_runner(settings, ConsumerRunner, ends, f"skip{n}"))
        raw = _raw_rate(settings, count)
        decode_us = _decode_cost_us(settings, values)
        load_after = os.getloadavg()[0]
    finally:
        drop(settings)
    ours, theirs = statistics.median(skipping), statistics.median(decoding)
    return [
        {"benchmark": f"matching worker over {count} unhandled sessions events", "unit": "events/s",
         "value": round(ours, 1), "baseline": "same runner, every record decoded", "baseline_value": round(theirs, 1),
         "ratio": round(ours / theirs, 3),
         "note": (f"median of {rounds} alternating rounds each (skip {[round(r) for r in skipping]}, full "
                  f"{[round(r) for r in decoding]}); bare kafka-python read + json.loads {raw:.0f}/s; "
                  f"load average {load_before:.2f} -> {load_after:.2f}")},
        {"benchmark": "decode step per unhandled record (CPU, no I/O)", "unit": "us", "value": round(decode_us["skip"], 1),
         "baseline": "full decode (envelope, data, upcast)", "baseline_value": round(decode_us["full"], 1),
         "ratio": round(decode_us["skip"] / decode_us["full"], 3)},
    ]

if __name__ == "__main__":
    from shared.config import act_as_local_kafka_admin

    act_as_local_kafka_admin()
    from bench.__main__ import _print

    _print(run())
