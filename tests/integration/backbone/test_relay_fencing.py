"""The relay is fenced: per key the topic holds each stored version once, in order, whatever
the relays do — a second relay, a paused holder (SIGSTOP past its lease), a seal race, a restart.

Read with `isolation_level="read_committed"`, as every consumer does: what a fenced relay had
sent in a transaction it could not commit is aborted and never seen.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from shared import topics
from shared.eventstore import EventStore
from shared.events.envelope import new_event
from shared.kafka import connection_options
from shared.lease import holder
from shared.mongo import database_for
from shared import relay as relay_module
from shared.relay import LEASE_NAME, EventRelay
from tests.helpers import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def _events(stream: str, first_version: int, count: int):
    return [new_event(event_type="TestHappened", schema_version=1, producer="matching", aggregate_type="test",
                      aggregate_id=stream, aggregate_version=first_version + i, data={"n": first_version + i},
                      correlation_id="c", causation_id=None) for i in range(count)]


def read_committed(settings, *, expect: int, timeout_s: float = 90) -> list[dict]:
    """The topic's committed records, waiting for `expect` of them. A relay stopped mid-transaction
    leaves it open until the broker aborts it (`transaction.timeout.ms`, 60 s): read_committed
    reads nothing past it until then, so the wait outlasts that."""
    name = topics.resolve(topics.MATCHING, settings.kafka_topic_prefix)
    consumer = KafkaConsumer(**connection_options(settings), group_id=None,
                             enable_auto_commit=False, isolation_level="read_committed")
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
            if len(records) >= expect:
                for batch in consumer.poll(timeout_ms=500).values():  # anything beyond shows up too
                    records.extend(batch)
                break
        return [json.loads(r.value) for r in records]
    finally:
        consumer.close()


def assert_topic_equals_store(settings, store: EventStore) -> None:
    """Per key: the topic's versions are exactly the store's, each once, strictly increasing."""
    stored: dict[str, list[int]] = defaultdict(list)
    for commit in store.read_all(1):
        for event in commit.events:
            stored[event.aggregate_id].append(event.aggregate_version)
    total = sum(len(v) for v in stored.values())
    published: dict[str, list[int]] = defaultdict(list)
    for event in read_committed(settings, expect=total):
        published[event["aggregate_id"]].append(event["aggregate_version"])
    assert dict(published) == dict(stored)
    for versions in published.values():
        assert versions == list(range(1, len(versions) + 1))


@pytest.fixture
def setup(make_settings):
    settings = make_settings("matching", relay_lease_ttl_s=2.0, relay_gap_timeout_s=1.0)
    store = EventStore(database_for(settings))
    store.ensure_indexes()
    return settings, store


class Writer:
    """Appends to a few streams until stopped (a service taking commands meanwhile)."""

    def __init__(self, store: EventStore, streams: int = 5):
        self.store, self.streams = store, streams
        self.versions = [0] * streams
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        n = 0
        while not self.stop.is_set():
            i = n % self.streams
            stream, count = f"k{i}", 1 + n % 3
            self.store.append(stream, self.versions[i], _events(stream, self.versions[i] + 1, count))
            self.versions[i] += count
            n += 1
            time.sleep(0.005)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)


def test_a_paused_publisher_cannot_commit_after_its_successor(setup, monkeypatch):
    settings, store = setup
    for i in range(6):
        store.append(f"k{i % 2}", i // 2, _events(f"k{i % 2}", i // 2 + 1, 1))
    first = EventRelay(settings, store, batch_size=3)
    assert first.publish_pending() == 3
    for i in range(6, 10):
        store.append(f"k{i % 2}", i // 2, _events(f"k{i % 2}", i // 2 + 1, 1))
    # `first` has sent its next batch inside a transaction and pauses before committing it.
    paused, resume = threading.Event(), threading.Event()
    real_step = relay_module._bounded

    def commit_after_pause(producer, step, *args, **kwargs):
        if step == "begin_commit" and producer is first.producer:
            paused.set()
            resume.wait(30)
        return real_step(producer, step, *args, **kwargs)

    monkeypatch.setattr(relay_module, "_bounded", commit_after_pause)
    outcome = {}

    def publish():
        try:
            outcome["published"] = first.publish_pending()
        except Exception as exc:  # noqa: BLE001 - the fenced commit
            outcome["error"] = exc

    thread = threading.Thread(target=publish)
    thread.start()
    assert paused.wait(30)
    successor = EventRelay(settings, store, batch_size=3)
    while successor.publish_pending():  # fences `first`, aborts its open transaction
        pass
    resume.set()
    thread.join(30)
    assert "error" in outcome and "published" not in outcome
    assert successor.cursor() == 11 and first.cursor() == 11  # the cursor never moved back
    assert_topic_equals_store(settings, store)
    # the fenced relay starts over from Kafka's cursor: nothing left, nothing republished
    assert first.publish_pending() == 0
    assert_topic_equals_store(settings, store)
    first.close()
    successor.close()


def test_private_data_never_reaches_kafka(setup):
    settings, store = setup
    events = _events("k0", 1, 1)
    store.append("k0", 0, events, private={events[0].event_id: {"comment": "between us"}})
    relay = EventRelay(settings, store)
    assert relay.publish_pending() == 1
    [published] = read_committed(settings, expect=1)
    assert "between us" not in json.dumps(published) and "private" not in published
    relay.close()


def test_seals_racing_writers_never_lose_or_reorder_a_commit(setup):
    settings, store = setup
    appended: list[tuple[int, str]] = []
    sealed: list[int] = []
    done = threading.Event()

    def write(index):
        writer = EventStore(database_for(settings))
        for version in range(20):
            stream = f"k{index}"
            appended.append((writer.append(stream, version, _events(stream, version + 1, 1)), stream))

    def seal():
        sealer = EventStore(database_for(settings))
        while not done.is_set():
            position = sealer.current_position() + 1
            if sealer.seal(position) is None:
                sealed.append(position)

    sealer = threading.Thread(target=seal)
    sealer.start()
    writers = [threading.Thread(target=write, args=(i,)) for i in range(3)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    sealer.join()
    assert sealed, "the sealer won some positions"
    for position, stream in appended:
        assert store.commit_at(position)["stream_id"] == stream
    assert not set(sealed) & {p for p, _ in appended}
    relay = EventRelay(settings, store, batch_size=25)
    while relay.publish_pending():
        pass
    assert relay.backlog() == 0
    assert_topic_equals_store(settings, store)
    relay.close()


RELAY_PROCESS = """
import signal, sys, threading
sys.path.insert(0, sys.argv[1])
from shared.config import Settings
from shared.eventstore import EventStore
from shared.mongo import database_for
from shared.relay import EventRelay
settings = Settings.from_env("matching")
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
EventRelay(settings, EventStore(database_for(settings))).run(stop)
"""


def _start_relay(settings) -> subprocess.Popen:
    env = dict(os.environ, MONGO_URL=settings.mongo_url, MONGO_DATABASE=settings.database,
               KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers, KAFKA_TOPIC_PREFIX=settings.kafka_topic_prefix,
               RELAY_LEASE_TTL_S=str(settings.relay_lease_ttl_s), RELAY_POLL_INTERVAL_S="0.02",
               RELAY_GAP_TIMEOUT_S=str(settings.relay_gap_timeout_s))
    return subprocess.Popen([sys.executable, "-c", RELAY_PROCESS, str(ROOT)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _holder_pid(store: EventStore) -> int | None:
    doc = holder(store.db["event_relay"], LEASE_NAME)
    return int(doc["owner"].split(":")[1]) if doc else None


def test_two_relay_processes_one_sigstopped_past_its_lease_publish_each_version_once_in_order(setup):
    settings, store = setup
    relays = [_start_relay(settings)]
    try:
        wait_until(lambda: _holder_pid(store) == relays[0].pid, timeout_s=30, message="first relay holds the lease")
        relays.append(_start_relay(settings))
        with Writer(store):
            for _ in range(2):  # pause the holder twice: each relay gets paused while publishing
                wait_until(lambda: EventRelay(settings, store).cursor() > 1, timeout_s=30, message="publishing")
                paused = _holder_pid(store)
                os.kill(paused, signal.SIGSTOP)
                time.sleep(settings.relay_lease_ttl_s * 2.5)  # its lease runs out; the other takes over
                wait_until(lambda paused=paused: _holder_pid(store) not in (None, paused), timeout_s=30,
                           message="takeover")
                os.kill(paused, signal.SIGCONT)
                time.sleep(1.0)  # the woken relay tries to go on: fenced
        wait_until(lambda: EventRelay(settings, store).backlog() == 0, timeout_s=60, message="backlog 0")
    finally:
        for process in relays:
            os.kill(process.pid, signal.SIGCONT)
            process.terminate()
        for process in relays:
            process.wait(timeout=30)
    assert store.current_position() > 20
    assert_topic_equals_store(settings, store)


def test_a_restarted_relay_resumes_where_the_last_transaction_ended(setup):
    settings, store = setup
    for i in range(12):
        store.append(f"k{i % 3}", i // 3, _events(f"k{i % 3}", i // 3 + 1, 1))
    relay = EventRelay(settings, store, batch_size=5)
    relay.publish_pending()
    relay.close()  # a crash after a committed transaction
    store.db["event_relay"].delete_many({"next_position": {"$exists": True}})  # even the MongoDB copy lost
    again = EventRelay(settings, store, batch_size=5)
    while again.publish_pending():
        pass
    assert again.cursor() == 13 and again.backlog() == 0
    assert_topic_equals_store(settings, store)
    again.close()
