"""EventStore.append_many (bulk enrolment's multi-stream append) against the real server and Kafka:
the guarantees of one-by-one appends hold while other processes append at the same time."""
from __future__ import annotations

import threading

import pytest

from shared import eventstore, topics
from shared.eventstore import ConcurrencyError, EventStore, StreamAppend
from shared.kafka import make_producer
from shared.mongo import database_for
from shared.relay import EventRelay
from tests.helpers import decode, read_topic
from tests.integration.backbone.test_event_store import _events

pytestmark = pytest.mark.integration


@pytest.fixture
def store(make_settings):
    settings = make_settings("matching")
    store = EventStore(database_for(settings))
    store.ensure_indexes()
    return settings, store


def test_a_stale_entry_is_refused_alone_and_the_rest_are_stored_in_order(store):
    settings, store = store
    store.append("taken", 0, _events("taken", 1, 1))
    entries = [StreamAppend(f"s{i}", 0, _events(f"s{i}", 1, 1), private={}) for i in range(3)]
    entries.insert(1, StreamAppend("taken", 0, _events("taken", 1, 1)))  # someone enrolled this one already
    results = store.append_many(entries)
    assert isinstance(results[1], ConcurrencyError)
    assert [results[0], results[2], results[3]] == [2, 3, 4]
    assert [c.stream_id for c in store.read_all(1)] == ["taken", "s0", "s1", "s2"]
    assert all(store.load(f"s{i}").version == 1 for i in range(3))
    assert store.current_position() == 4


def test_bulk_and_single_writers_in_several_processes_fill_positions_once_and_all_get_published(store, monkeypatch):
    """A bulk writer (chunks of 7) races three one-by-one writers, one of them on the bulk's own streams:
    every (stream, version) is stored once, positions have no gap and no seal, the relay publishes all."""
    settings, store = store
    monkeypatch.setattr(eventstore, "APPEND_MANY_CHUNK", 7)
    bulk = EventStore(database_for(settings))
    singles = [EventStore(database_for(settings)) for _ in range(3)]
    barrier = threading.Barrier(1 + len(singles))
    stored: list[tuple[str, int]] = []
    refused: list[str] = []
    lock = threading.Lock()

    def write_bulk():
        barrier.wait()
        entries = [StreamAppend(f"b{n}", 0, _events(f"b{n}", 1, 1)) for n in range(60)]
        for entry, result in zip(entries, bulk.append_many(entries)):
            with lock:
                (refused.append(entry.stream_id) if isinstance(result, ConcurrencyError)
                 else stored.append((entry.stream_id, result)))

    def write_single(index, writer):
        barrier.wait()
        for n in range(20):
            stream = f"b{n * 3}" if index == 0 else f"w{index}-{n}"  # writer 0 races the bulk's streams
            try:
                position = writer.append(stream, 0, _events(stream, 1, 1))
            except ConcurrencyError:
                with lock:
                    refused.append(stream)
                continue
            with lock:
                stored.append((stream, position))

    threads = [threading.Thread(target=write_bulk)] + [
        threading.Thread(target=write_single, args=(i, w)) for i, w in enumerate(singles)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = 60 + 2 * 20  # the bulk's streams once each, the other two writers' own
    assert len(stored) == total and len(refused) == 20
    assert sorted(position for _, position in stored) == list(range(1, total + 1))
    assert len({stream for stream, _ in stored}) == total  # no stream got two first versions
    assert all(not store.commit_at(p).get("sealed") for p in range(1, total + 1))
    assert store.current_position() == EventStore(database_for(settings)).current_position() == total
    relay = EventRelay(settings, store, make_producer(settings), batch_size=50)
    while relay.publish_pending():
        pass
    published = [decode(r) for r in read_topic(settings, topics.MATCHING, expect=total)]
    assert sorted(e["aggregate_id"] for e in published) == sorted(stream for stream, _ in stored)
