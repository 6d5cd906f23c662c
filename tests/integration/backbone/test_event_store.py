"""Event store and relay against the real MongoDB-compatible server and Kafka."""
from __future__ import annotations

import multiprocessing
import threading
from collections import defaultdict

import pytest
from pymongo import MongoClient, monitoring

from shared import topics
from shared.errors import Invalid
from shared.eventstore import (
    COMMITS, COUNTERS, LEGACY_STREAMS, ConcurrencyError, EventStore, EventTooLarge, StreamAppend, pointer_document,
    stream_key,
)
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


def test_relay_seals_a_position_an_old_counter_took_and_a_late_writer_moves_on(store):
    settings, store = store
    store.append("x", 0, _events("x", 1, 1))
    # An older version of the store took positions from a counter before inserting; a writer
    # that died in between left the counter one past what is written.
    store.counters.update_one({"_id": "position"}, {"$set": {"value": 2}}, upsert=True)
    fresh = EventStore(database_for(settings))  # another process: starts from the counter
    assert fresh.append("y", 0, _events("y", 1, 1)) == 3
    relay = EventRelay(settings, store)
    relay.publish_pending()
    assert relay.cursor() == 2  # waits at the gap
    wait_until(lambda: relay.publish_pending() or relay.cursor() > 3, timeout_s=10, message="gap sealed")
    assert relay.cursor() == 4
    assert store.commit_at(2)["sealed"]
    records = read_topic(settings, topics.MATCHING, expect=2)
    assert sorted(decode(r)["aggregate_id"] for r in records) == ["x", "y"]
    relay.close()


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


def test_many_seals_in_one_database_never_rest_on_null_keys(store):
    """mongod indexes missing fields as null: placeholders without keys would allow only one seal."""
    settings, store = store
    store.append("a", 0, _events("a", 1, 1))
    for position in (2, 3, 4, 7):
        assert store.seal(position) is None
    assert all(store.commit_at(p)["sealed"] for p in (2, 3, 4, 7))
    # no document relies on how the unique (stream_id, first_version) index treats NULLs
    assert store.commits.find_one({"stream_id": None}) is None
    assert store.commits.find_one({"first_version": None}) is None
    assert store.seal(1)["stream_id"] == "a"  # a commit is never sealed over
    # a writer that only knew position 1 steps over every seal and lands after them
    assert store.append("b", 0, _events("b", 1, 1)) == 5
    assert store.append("c", 0, _events("c", 1, 1)) == 6
    assert store.append("d", 0, _events("d", 1, 1)) == 8
    assert [c.stream_id for c in store.read_all(1)] == ["a", "b", "c", "d"]


def test_concurrent_writers_in_several_processes_fill_positions_without_gaps(store):
    """Positions are claimed by unique inserts: no two commits share one, none is skipped."""
    settings, store = store
    writers = [EventStore(database_for(settings)) for _ in range(4)]  # one per "process"
    barrier = threading.Barrier(len(writers))
    positions: list[int] = []
    lock = threading.Lock()

    def write(index, writer):
        barrier.wait()
        for n in range(30):
            stream = f"w{index}-{n % 3}"
            position = writer.append(stream, n // 3, _events(stream, n // 3 + 1, 1))
            with lock:
                positions.append(position)

    threads = [threading.Thread(target=write, args=(i, w)) for i, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(positions) == list(range(1, 121))
    assert all(not store.commit_at(p).get("sealed") for p in range(1, 121))
    assert store.current_position() == EventStore(database_for(settings)).current_position() == 120
    assert sum(len(c.events) for c in store.read_all(1)) == 120


def test_private_data_is_stored_with_the_commit_and_read_back(store):
    settings, store = store
    events = _events("p", 1, 2)
    position = store.append("p", 0, events, private={events[1].event_id: {"notes": "only for us"}})
    loaded = store.load("p")
    assert loaded.private == {events[1].event_id: {"notes": "only for us"}}
    assert "notes" not in str([e.to_dict() for e in loaded.events])
    [commit] = list(store.read_all(position))
    assert commit.private == {events[1].event_id: {"notes": "only for us"}}
    more = _events("p", 3, 1)
    store.append("p", 2, more, private={more[0].event_id: {"notes": "later"}})
    assert store.load("p").private[more[0].event_id] == {"notes": "later"}  # cached prefix + new commit
    with pytest.raises(ValueError):
        store.append("p", 3, _events("p", 4, 1), private={"not-an-event-of-this-commit": {"x": 1}})


def test_an_event_kafka_could_not_take_is_refused_before_storing(make_settings):
    settings = make_settings("matching")
    store = EventStore(database_for(settings), max_event_bytes=2000)
    store.ensure_indexes()
    big = _events("big", 1, 1)[0]
    big = big.with_data({"n": 1, "text": "x" * 3000}, 1)
    with pytest.raises(EventTooLarge) as refused:
        store.append("big", 0, [big])
    assert isinstance(refused.value, Invalid) and refused.value.code == "event_too_large"
    assert store.current_position() == 0 and store.load("big").version == 0
    assert EventStore(database_for(settings)).max_event_bytes == 1_000_000  # the default services get


def test_a_commit_whose_pointer_was_lost_loads_short_then_the_first_conflict_restores_it_and_the_next_command_succeeds(store):
    settings, store = store
    store.append("lost", 0, _events("lost", 1, 1))
    store.append("lost", 1, _events("lost", 2, 1))
    # The server stopped between the commit and its pointer (the two documents of one insert).
    assert store.commits.delete_one({"_id": stream_key("lost", 2)}).deleted_count == 1
    other_process = EventStore(database_for(settings))
    assert other_process.load("lost").version == 1  # short, never beyond what is stored
    with pytest.raises(ConcurrencyError):  # the command decided on version 1: refused, pointer restored
        other_process.append("lost", 1, _events("lost", 2, 1, correlation="stale"))
    assert store.commits.find_one({"_id": stream_key("lost", 2)})["position"] == 2
    reloaded = other_process.load("lost")
    assert reloaded.version == 2 and [e.correlation_id for e in reloaded.events] == ["req-1", "req-1"]
    assert other_process.append("lost", 2, _events("lost", 3, 1, correlation="retry")) == 3  # the retry succeeds
    assert [c.position for c in store.read_all(1)] == [1, 2, 3]
    assert EventStore(database_for(settings)).load("lost").version == 3


class _Commands(monitoring.CommandListener):
    def __init__(self):
        self.names: list[str] = []

    def started(self, event):
        self.names.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def test_a_command_writes_in_one_round_trip_after_one_read_of_a_stream_it_holds(store):
    """Issue 16: the write path of a command is at most two round trips (load, append)."""
    settings, _ = store
    commands = _Commands()
    client = MongoClient(settings.mongo_url, event_listeners=[commands])
    try:
        writer = EventStore(client[settings.database])
        writer.append("one-trip", 0, _events("one-trip", 1, 2))
        writer.load("one-trip")
        commands.names.clear()
        loaded = writer.load("one-trip")  # the cached prefix, then whether a commit follows it
        writer.append("one-trip", loaded.version, _events("one-trip", 3, 1))
        assert commands.names == ["find", "insert"]
        assert writer.load("one-trip").version == 3
        assert EventStore(database_for(settings)).load("one-trip").version == 3  # its pointer came with it
    finally:
        client.close()


def _append_contended(settings, writer: int, rounds: int, streams: int, start, results) -> None:
    """One process of a service: commands on streams other processes write too, retried on a 409."""
    store = EventStore(database_for(settings))
    won = []
    start.wait()
    for n in range(rounds):
        stream = f"shared-{(n + writer) % streams}"
        while True:
            version = store.load(stream).version
            events = _events(stream, version + 1, 1 + n % 2, correlation=f"w{writer}-{n}")
            try:
                won.append((stream, version + 1, store.append(stream, version, events), [e.event_id for e in events]))
                break
            except ConcurrencyError:
                continue
    results.put(won)


def test_writers_in_several_processes_on_shared_streams_leave_no_gap_and_one_commit_per_version(store):
    settings, store = store
    spawn = multiprocessing.get_context("spawn")
    writers, rounds, streams = 3, 30, 4
    start, results = spawn.Barrier(writers), spawn.Queue()
    processes = [spawn.Process(target=_append_contended, args=(settings, i, rounds, streams, start, results))
                 for i in range(writers)]
    for process in processes:
        process.start()
    won = [entry for _ in processes for entry in results.get(timeout=120)]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0

    assert len(won) == writers * rounds
    # Positions fill as a prefix: the relay, reading them in order, can skip none.
    assert sorted(position for _, _, position, _ in won) == list(range(1, writers * rounds + 1))
    commits = list(store.read_all(1))
    assert [c.position for c in commits] == list(range(1, writers * rounds + 1))
    assert store.current_position() == writers * rounds and store.commit_at(writers * rounds + 1) is None
    # One commit per stream version, versions without holes, each stream loads exactly its commits.
    by_stream = defaultdict(list)
    for commit in commits:
        by_stream[commit.stream_id].append(commit)
    for stream, stream_commits in by_stream.items():
        versions = [e.aggregate_version for c in stream_commits for e in c.events]
        assert versions == list(range(1, len(versions) + 1)), stream
        loaded = EventStore(database_for(settings)).load(stream)
        assert [e.event_id for e in loaded.events] == [e.event_id for c in stream_commits for e in c.events]
    assert {e.event_id for c in commits for e in c.events} == {i for _, _, _, ids in won for i in ids}


def test_pointers_an_older_version_kept_apart_are_adopted_once_and_streams_load_through_them(store):
    settings, store = store
    store.append("old-a", 0, _events("old-a", 1, 2))
    store.append("old-b", 0, _events("old-b", 1, 1))
    store.append("old-a", 2, _events("old-a", 3, 1))
    database = database_for(settings)
    # The older layout: the pointers in their own collection, and no adoption marker yet.
    for key in (stream_key("old-a", 1), stream_key("old-b", 1), stream_key("old-a", 3)):
        pointer = database[COMMITS].find_one_and_delete({"_id": key})
        database[LEGACY_STREAMS].insert_one({"_id": key, "position": pointer["position"]})
    database[COUNTERS].delete_one({"_id": "pointers_moved"})
    assert EventStore(database).load("old-a").version == 0

    upgraded = EventStore(database)
    upgraded.ensure_indexes()
    upgraded.ensure_indexes()  # a second process starting: nothing to do
    assert upgraded.load("old-a").version == 3 and upgraded.load("old-b").version == 1
    assert upgraded.append("old-a", 3, _events("old-a", 4, 1)) == 4
    with pytest.raises(ConcurrencyError):
        upgraded.append("old-b", 0, _events("old-b", 1, 1))
    assert [c.position for c in upgraded.read_all(1)] == [1, 2, 3, 4]


def test_a_pointer_a_reader_restored_before_its_own_insert_leaves_every_commit_stored(store):
    """A store projector may restore a pointer between its commit and the pointer's own insert."""
    settings, store = store
    store.commits.insert_one(pointer_document("b", 1, 2))  # what `loading_through` writes for position 2
    appended = store.append_many([StreamAppend(s, 0, _events(s, 1, 1)) for s in ("a", "b", "c", "d")])
    assert appended == [1, 2, 3, 4]
    assert [c.stream_id for c in store.read_all(1)] == ["a", "b", "c", "d"]
    store.commits.insert_one(pointer_document("e", 1, 5))  # and for a single append's commit
    assert store.append("e", 0, _events("e", 1, 1)) == 5
    assert store.append("f", 0, _events("f", 1, 1)) == 6
    fresh = EventStore(database_for(settings))
    assert [fresh.load(s).version for s in ("a", "b", "c", "d", "e", "f")] == [1] * 6
    assert [c.position for c in store.read_all(1)] == [1, 2, 3, 4, 5, 6]


def test_forget_private_on_the_real_server_and_other_processes_stop_serving_it_from_their_cache(store, monkeypatch):
    settings, store = store
    events = _events("s-forget", 1, 2)
    store.append("s-forget", 0, events[:1], private={events[0].event_id: {"notes": "secret words", "score": 4}})
    store.append("s-forget", 1, events[1:], private={events[1].event_id: {"notes": "more words"}})
    other_process = EventStore(database_for(settings))
    assert other_process.load("s-forget").private[events[1].event_id] == {"notes": "more words"}  # now cached
    # both processes have read the commits lately (the recent-commits memory a relay and projectors share)
    for reader in (store, other_process):
        assert "secret words" in str([c.private for c in reader.read_all()])

    assert store.forget_private("s-forget", ("notes",)) == 2
    assert store.load("s-forget").private == {events[0].event_id: {"score": 4}, events[1].event_id: {}}
    assert [e.event_id for c in store.read_all() for e in c.events] == [e.event_id for e in events]
    assert [c.private for c in store.read_all()] == [{events[0].event_id: {"score": 4}}, {events[1].event_id: {}}]
    monkeypatch.setattr("shared.eventstore.RECENT_MAX_AGE_S", 0.0)  # the other process's memory has aged out
    assert "words" not in str([c.private for c in other_process.read_all()])
    assert "secret" not in str(list(store.commits.find({})))
    monkeypatch.setattr("shared.eventstore.PREFIX_CACHE_MAX_AGE_S", 0.0)  # the cache's age has passed
    assert other_process.load("s-forget").private == {events[0].event_id: {"score": 4}, events[1].event_id: {}}
