"""The in-memory event store keeps the rules callers rely on (the unit-test port of EventStore)."""
from __future__ import annotations

import pytest

from shared.events.envelope import new_event
from shared.eventstore import ConcurrencyError, EventStorePort, EventTooLarge
from shared.memory import InMemoryEventStore


def _events(stream, start, count, **data):
    return [new_event(event_type="TestHappened", schema_version=1, producer="matching", aggregate_type="test",
                      aggregate_id=stream, aggregate_version=start + i, data={"n": start + i, **data},
                      correlation_id="c", causation_id=None) for i in range(count)]


def test_appends_loads_and_reads_in_global_order_with_private_data():
    store: EventStorePort = InMemoryEventStore()
    first = _events("a", 1, 2)
    assert store.append("a", 0, first, private={first[0].event_id: {"note": "secret"}}) == 1
    assert store.append("b", 0, _events("b", 1, 1)) == 2
    assert store.append("a", 2, _events("a", 3, 1)) == 3
    loaded = store.load("a")
    assert loaded.version == 3 and [e.data["n"] for e in loaded.events] == [1, 2, 3]
    assert loaded.private == {first[0].event_id: {"note": "secret"}}
    assert [(c.position, c.stream_id) for c in store.read_all(1)] == [(1, "a"), (2, "b"), (3, "a")]
    assert [c.position for c in store.read_all(2, limit=1)] == [2]
    assert store.current_position() == 3


def test_optimistic_concurrency_and_size_limit():
    store = InMemoryEventStore(max_event_bytes=500)
    store.append("a", 0, _events("a", 1, 1))
    with pytest.raises(ConcurrencyError):
        store.append("a", 0, _events("a", 1, 1))
    with pytest.raises(EventTooLarge) as refused:
        store.append("a", 1, _events("a", 2, 1, text="x" * 600))
    assert refused.value.code == "event_too_large"
    assert store.load("a").version == 1 and store.current_position() == 1


def test_seals_are_skipped_by_readers():
    store = InMemoryEventStore()
    store.append("a", 0, _events("a", 1, 1))
    assert store.seal(2) is None
    assert store.append("b", 0, _events("b", 1, 1)) == 3
    assert [c.stream_id for c in store.read_all(1)] == ["a", "b"]


def test_forget_private_removes_the_named_fields_and_keeps_the_events_and_other_fields():
    store: EventStorePort = InMemoryEventStore()
    first = _events("a", 1, 2)
    store.append("a", 0, first, private={first[0].event_id: {"note": "secret", "score": 4}})
    store.append("b", 0, (other := _events("b", 1, 1)), private={other[0].event_id: {"note": "b's"}})
    assert store.forget_private("a", ("note",)) == 1
    assert store.forget_private("a", ("note",)) == 0  # idempotent
    loaded = store.load("a")
    assert loaded.version == 2 and loaded.private == {first[0].event_id: {"score": 4}}
    assert store.load("b").private == {other[0].event_id: {"note": "b's"}}
