"""Event store and relay against the real MongoDB-compatible server and Kafka."""
from __future__ import annotations

import threading
import uuid

import pytest

from shared import topics
from shared.eventstore import ConcurrencyError, EventStore
from shared.events.envelope import new_event
from shared.kafka import make_producer
from shared.mongo import database_for
from shared.relay import EventRelay
from tests.helpers import decode, read_topic, wait_until

pytestmark = pytest.mark.integration


def _events(stream: str, start_version: int, count: int, correlation: str = "req-1"):
    return [
        new_event(event_type="TestHappened", schema_version=1, producer="matching", aggregate_type="test",
                  aggregate_id=stream, aggregate_version=start_version + i, data={"n": start_version + i},
                  correlation_id=correlation, causation_id=None)
        for i in range(count)
    ]


@pytest.fixture
def store(make_settings):
    settings = make_settings("matching")
    store = EventStore(database_for(settings))
    store.ensure_indexes()
    return settings, store


def test_concurrent_appends_to_one_stream_exactly_one_wins(store):
    settings, store = store
    store.append("s-1", 0, _events("s-1", 1, 1))
    barrier = threading.Barrier(8)
    outcomes = []

    def contender(i):
        barrier.wait()
        try:
            store.append("s-1", 1, _events("s-1", 2, 1, correlation=f"c{i}"))
            outcomes.append("won")
        except ConcurrencyError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    loaded = store.load("s-1")
    assert loaded.version == 2
    assert [e.aggregate_version for e in loaded.events] == [1, 2]


def test_several_events_of_one_command_are_stored_together(store):
    settings, store = store
    store.append("s-2", 0, _events("s-2", 1, 3))
    with pytest.raises(ConcurrencyError):
        store.append("s-2", 0, _events("s-2", 1, 2))
    loaded = store.load("s-2")
    assert [e.data["n"] for e in loaded.events] == [1, 2, 3]
    commits = list(store.read_all(1))
    assert len(commits) == 1 and len(commits[0].events) == 3


def test_read_all_returns_commits_in_global_order(store):
    settings, store = store
    store.append("a", 0, _events("a", 1, 1))
    store.append("b", 0, _events("b", 1, 2))
    store.append("a", 1, _events("a", 2, 1))
    seen = [(c.stream_id, [e.aggregate_version for e in c.events]) for c in store.read_all(1)]
    assert seen == [("a", [1]), ("b", [1, 2]), ("a", [2])]
    assert [c.stream_id for c in store.read_all(3)] == ["a"]


def test_relay_publishes_every_event_in_stream_order_and_resumes(store):
    settings, store = store
    for i in range(20):
        store.append(f"agg-{i % 4}", i // 4, _events(f"agg-{i % 4}", i // 4 + 1, 1))
    producer = make_producer(settings)
    relay = EventRelay(settings, store, producer, batch_size=7)
    relay.publish_pending()  # a first batch, then "crash": a new relay resumes from the cursor
    relay2 = EventRelay(settings, store, producer, batch_size=7)
    while relay2.publish_pending():
        pass
    records = read_topic(settings, topics.MATCHING, expect=20)
    events = [decode(r) for r in records]
    assert len({e["event_id"] for e in events}) == 20
    assert all(r.key.decode() == decode(r)["aggregate_id"] for r in records)
    for i in range(4):
        versions = [e["aggregate_version"] for e in events if e["aggregate_id"] == f"agg-{i}"]
        assert versions == sorted(versions) == [1, 2, 3, 4, 5]
    assert relay2.backlog() == 0


def test_relay_seals_a_gap_and_a_late_writer_takes_a_new_position(store):
    settings, store = store
    store.append("x", 0, _events("x", 1, 1))
    lost = store._next_position()  # a writer took a position and died before inserting
    store.append("y", 0, _events("y", 1, 1))
    producer = make_producer(settings)
    relay = EventRelay(settings, store, producer)
    relay.publish_pending()
    assert relay.cursor() == lost  # waits at the gap
    wait_until(lambda: relay.publish_pending() or relay.cursor() > lost + 1, timeout_s=10, message="gap sealed")
    assert relay.cursor() == lost + 2
    records = read_topic(settings, topics.MATCHING, expect=2)
    assert sorted(decode(r)["aggregate_id"] for r in records) == ["x", "y"]


def test_only_the_lease_holder_publishes(store):
    settings, store = store
    producer = make_producer(settings)
    first = EventRelay(settings, store, producer)
    second = EventRelay(settings, store, producer)
    assert first.lease.acquire()
    assert not second.lease.acquire()
    first.lease.release()
    assert second.lease.acquire()


def test_a_cached_stream_still_sees_what_other_processes_appended(store):
    settings, store = store
    other_process = EventStore(database_for(settings))
    store.append("long", 0, _events("long", 1, 2))
    assert store.load("long").version == 2  # now cached in this instance
    other_process.append("long", 2, _events("long", 3, 1))
    loaded = store.load("long")
    assert loaded.version == 3 and [e.data["n"] for e in loaded.events] == [1, 2, 3]
    with pytest.raises(ConcurrencyError):
        store.append("long", 2, _events("long", 3, 1))
