"""Backbone benchmarks: event-store appends and HRIS ingest, each beside a baseline in the same run.

- Appends per second through our MongoDB event store, one event per command and ten per
  command, beside the `eventsourcing` library's SQLite application recorder appending the same
  events (file database, so both pay for durability).
- HRIS ingest into the participants projection (decode, validate, newest-wins upsert,
  watermarks, commits) beside the raw kafka-python consume rate of the same topic.
"""
from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path


from bench.bench_rebuild import raw_consume_rate
from shared.cli import load_hris
from shared.config import Settings
from shared.events.envelope import new_event
from shared.eventstore import EventStore
from shared.kafka import ensure_topics
from shared.mongo import client_for, database_for

ROOT = Path(__file__).resolve().parents[1]


def _settings(tag: str) -> Settings:
    base = Settings.from_env("matching")
    run = uuid.uuid4().hex[:8]
    return replace(base, mongo_database=f"bench_{tag}_{run}", kafka_topic_prefix=f"bench{run}.")


def _events(stream: str, first_version: int, count: int):
    return [new_event(event_type="BenchHappened", schema_version=1, producer="matching", aggregate_type="bench",
                      aggregate_id=stream, aggregate_version=first_version + i, data={"n": first_version + i, "pad": "x" * 200},
                      correlation_id="bench", causation_id=None) for i in range(count)]


def bench_event_store(commands: int = 2000) -> list[dict]:
    settings = _settings("store")
    store = EventStore(database_for(settings))
    store.ensure_indexes()
    rows = []
    try:
        for per_command in (1, 10):
            prepared = [(f"s{i % 200}-{per_command}", i // 200) for i in range(commands)]
            batches = [(stream, version, _events(stream, version * per_command + 1, per_command))
                       for stream, version in prepared]
            started = time.perf_counter()
            for stream, version, events in batches:
                store.append(stream, version * per_command, events)
            ours = commands * per_command / (time.perf_counter() - started)

            from eventsourcing.persistence import StoredEvent
            from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

            with tempfile.TemporaryDirectory() as tmp:
                datastore = SQLiteDatastore(str(Path(tmp) / "es.sqlite"))
                recorder = SQLiteApplicationRecorder(datastore)
                recorder.create_table()
                ids = {}
                stored = [[StoredEvent(originator_id=ids.setdefault(stream, uuid.uuid4()), originator_version=e.aggregate_version,
                                       topic=e.event_type, state=e.to_json()) for e in events]
                          for stream, version, events in batches]
                started = time.perf_counter()
                for batch in stored:
                    recorder.insert_events(batch)
                theirs = commands * per_command / (time.perf_counter() - started)
            rows.append({"benchmark": f"event store appends, {per_command} event(s)/command", "unit": "events/s",
                         "value": round(ours, 1), "baseline": "eventsourcing SQLite recorder",
                         "baseline_value": round(theirs, 1), "ratio": round(ours / theirs, 3)})
    finally:
        client_for(settings.mongo_url).drop_database(settings.database)
    return rows


def bench_hris_ingest(data_file: Path, limit: int | None = None) -> list[dict]:
    from services.matching.worker import build_consumer

    settings = _settings("ingest")
    ensure_topics(settings)
    source = data_file
    if limit:
        tmp = Path(tempfile.mkstemp(suffix=".jsonl")[1])
        with open(data_file) as src, open(tmp, "w") as dst:
            for i, line in enumerate(src):
                if i >= limit:
                    break
                dst.write(line)
        source = tmp
    total = load_hris(str(source), settings)
    try:
        raw_rate = raw_consume_rate(settings, total)
        runner = build_consumer(settings)
        started = time.perf_counter()
        applied = runner.rebuild(idle_timeout_s=30)
        ingest_rate = applied / (time.perf_counter() - started)
    finally:
        client_for(settings.mongo_url).drop_database(settings.database)
    return [{"benchmark": f"HRIS ingest into participants ({total} records)", "unit": "events/s",
             "value": round(ingest_rate, 1), "baseline": "raw kafka-python consume (+json.loads)",
             "baseline_value": round(raw_rate, 1), "ratio": round(ingest_rate / raw_rate, 4)}]
