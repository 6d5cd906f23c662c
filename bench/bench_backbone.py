"""Backbone benchmarks: event-store appends and HRIS ingest, each beside a baseline in the same run.

- Appends per second through our MongoDB event store (issue 16), one event per command and ten per
  command, beside raw pymongo writes of the same data to the same server (an own collection with
  only its `_id` index): one event per command against one `insert_one` of the very commit
  document our store writes; ten events per command against one `insert_many` of the ten event
  documents (what a store keeping one document per event would send for that command). The two
  are timed in alternating rounds, so a change in the machine's load falls on both. Also the
  MongoDB commands per append (pymongo command monitoring). (The `eventsourcing` library's SQLite
  recorder used to be the reference; on this shared machine its fsyncs swung from 300 to 36,000
  events/s between runs, so it told more about the disk than about the store.)
- Appends from 4 writers with a store each (4 processes of one service), beside one writer, and the
  MongoDB round trips per append.
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

from pymongo import MongoClient, monitoring

from bench.bench_rebuild import raw_consume_rate
from shared.cli import load_hris
from shared.config import Settings
from shared.events.envelope import new_event
from shared.eventstore import EventStore, position_key
from shared.kafka import ensure_topics
from shared.mongo import client_for

ROOT = Path(__file__).resolve().parents[1]


def _settings(tag: str) -> Settings:
    base = Settings.from_env("matching")
    run = uuid.uuid4().hex[:8]
    return replace(base, mongo_database=f"bench_{tag}_{run}", kafka_topic_prefix=f"bench{run}.")


def _events(stream: str, first_version: int, count: int):
    return [new_event(event_type="BenchHappened", schema_version=1, producer="matching", aggregate_type="bench",
                      aggregate_id=stream, aggregate_version=first_version + i, data={"n": first_version + i, "pad": "x" * 200},
                      correlation_id="bench", causation_id=None) for i in range(count)]


class _RoundTrips(monitoring.CommandListener):
    """Counts the MongoDB commands a client sends (each one a round trip)."""

    def __init__(self):
        self.count = 0

    def started(self, event):
        self.count += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def _monitored_client(settings: Settings) -> tuple[MongoClient, _RoundTrips]:
    trips = _RoundTrips()
    return MongoClient(settings.mongo_url, tz_aware=True, event_listeners=[trips]), trips


def bench_event_store(commands: int = 2000, rounds: int = 10) -> list[dict]:
    settings = _settings("store")
    client, trips = _monitored_client(settings)
    database = client[settings.database]
    store = EventStore(database)
    store.ensure_indexes()
    raw = database["bench_raw_inserts"]
    raw.insert_one({"_id": "warm-up"})
    store.current_position()
    rows = []
    try:
        for per_command in (1, 10):
            batches = [(f"s{i % 200}-{per_command}", i // 200) for i in range(commands)]
            batches = [(stream, version * per_command, _events(stream, version * per_command + 1, per_command))
                       for stream, version in batches]
            raw_docs = []
            for n, (stream, expected, events) in enumerate(batches, start=1):
                if per_command == 1:  # the commit document exactly as the store writes it, at its own `_id`
                    doc = store._commit_document(stream, expected, events, None)
                    raw_docs.append(dict(doc, _id=f"{per_command}-{position_key(n)}", position=n))
                else:
                    raw_docs.append([dict(event.to_dict(), _id=event.event_id) for event in events])
            ours_s = raw_s = 0.0
            our_trips = 0
            raw_write = raw.insert_one if per_command == 1 else raw.insert_many
            size = -(-commands // rounds)
            for round_ in range(rounds):
                chunk = slice(round_ * size, (round_ + 1) * size)
                for side in ((0, 1) if round_ % 2 == 0 else (1, 0)):
                    if side == 0:
                        before = trips.count
                        ours_s += _timed(lambda batch: store.append(*batch), batches[chunk])
                        our_trips += trips.count - before
                    else:
                        raw_s += _timed(raw_write, raw_docs[chunk])
            ours, theirs = commands * per_command / ours_s, commands * per_command / raw_s
            rows.append({"benchmark": f"event store appends, {per_command} event(s)/command", "unit": "events/s",
                         "value": round(ours, 1),
                         "baseline": "raw insert_one of the same commit document" if per_command == 1
                         else "raw insert_many of the 10 event documents",
                         "baseline_value": round(theirs, 1), "ratio": round(ours / theirs, 3)})
            rows.append({"benchmark": f"MongoDB round trips per append, {per_command} event(s)/command",
                         "unit": "round trips", "value": round(our_trips / commands, 2),
                         "baseline": "raw write", "baseline_value": 1.0, "ratio": round(our_trips / commands, 3)})
    finally:
        client.drop_database(settings.database)
        client.close()
    return rows + bench_concurrent_appends()


def _timed(write, items) -> float:
    started = time.perf_counter()
    for item in items:
        write(item)
    return time.perf_counter() - started


def bench_concurrent_appends(writers: int = 4, commands_each: int = 150) -> list[dict]:
    settings = _settings("concurrent")
    client, trips = _monitored_client(settings)
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
        trips.count = 0
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        return count * each / elapsed, trips.count / (count * each)

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
