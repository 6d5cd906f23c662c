"""Backbone benchmarks: event-store appends and HRIS ingest, each beside a baseline in the same run.

- Appends per second through our MongoDB event store, one event per command and ten per
  command, beside the `eventsourcing` library's SQLite application recorder appending the same
  events (file database, so both pay for durability).
- Appends from 4 writers with a store each (4 processes of one service), beside one writer, and the
  MongoDB round trips per append (positions are claimed by unique inserts: 2 when uncontended).
- HRIS ingest into the participants projection (decode, validate, newest-wins upsert,
  watermarks, commits) beside the raw kafka-python consume rate of the same topic.
"""
from __future__ import annotations

import tempfile
import threading
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
    return rows + bench_concurrent_appends()


def bench_concurrent_appends(writers: int = 4, commands_each: int = 150) -> list[dict]:
    from pymongo import MongoClient, monitoring

    class RoundTrips(monitoring.CommandListener):
        count = 0

        def started(self, event):
            RoundTrips.count += 1

        def succeeded(self, event):
            pass

        def failed(self, event):
            pass

    settings = _settings("concurrent")
    client = MongoClient(settings.mongo_url, tz_aware=True, event_listeners=[RoundTrips()])
    database = client[settings.database]
    EventStore(database).ensure_indexes()

    def run(count: int, each: int, tag: str) -> tuple[float, float]:
        stores = [EventStore(database) for _ in range(count)]
        stores[0].current_position()  # warm up: a fresh store reads where positions end
        for store in stores:
            store._seen = stores[0]._seen
        barrier = threading.Barrier(count)

        def write(index: int) -> None:
            barrier.wait()
            for n in range(each):
                stream = f"{tag}{index}-{n % 10}"
                stores[index].append(stream, n // 10, _events(stream, n // 10 + 1, 1))

        threads = [threading.Thread(target=write, args=(i,)) for i in range(count)]
        RoundTrips.count = 0
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        return count * each / elapsed, RoundTrips.count / (count * each)

    try:
        single, single_trips = run(1, commands_each, "one")
        many, many_trips = run(writers, commands_each, "many")
    finally:
        client.drop_database(settings.database)
        client.close()
    return [
        {"benchmark": f"event store appends, {writers} writing processes", "unit": "commits/s", "value": round(many, 1),
         "baseline": "1 writing process", "baseline_value": round(single, 1), "ratio": round(many / single, 3)},
        {"benchmark": f"MongoDB round trips per append, {writers} writing processes", "unit": "round trips",
         "value": round(many_trips, 2), "baseline": "1 writing process", "baseline_value": round(single_trips, 2),
         "ratio": round(many_trips / single_trips, 3)},
    ]


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
