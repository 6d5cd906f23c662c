"""Schema evolution without servers: upcaster chains on the read path (decode) and the write path
(AggregateStore.load), private data through AggregateStore.append, newer versions told apart."""
from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given, settings, strategies as st
from marshmallow import Schema, fields

from shared.aggregate import AggregateStore, Appended, Causation, NewEvent
from shared.events.envelope import new_event
from shared.events.registry import EventRegistry, NewerSchemaVersion, PoisonRecord, UnknownSchemaVersion
from shared.memory import InMemoryEventStore

TYPE = "CounterMoved"


def _schema(version: int) -> type[Schema]:
    """Version k has integer fields f1..fk."""
    return type(f"CounterMovedV{version}", (Schema,),
                {f"f{i}": fields.Integer(required=True, strict=True) for i in range(1, version + 1)})


def _upcaster(version: int):
    """v -> v+1 adds f{v+1} = f{v} * 2 + 1 (depends on the previous step: order matters)."""
    return lambda data: {**data, f"f{version + 1}": data[f"f{version}"] * 2 + 1}


def chain_registry(current: int) -> EventRegistry:
    registry = EventRegistry()
    for version in range(1, current + 1):
        registry.register(TYPE, version, _schema(version))
        if version < current:
            registry.register_upcaster(TYPE, version, _upcaster(version))
    return registry


def _expected(data: dict, stored: int, current: int) -> dict:
    out = dict(data)
    for version in range(stored, current):
        out[f"f{version + 1}"] = out[f"f{version}"] * 2 + 1
    return out


def _envelope(version: int, data: dict, aggregate_version: int = 1):
    return new_event(event_type=TYPE, schema_version=version, producer="test", aggregate_type="counter",
                     aggregate_id="c-1", aggregate_version=aggregate_version, data=data,
                     correlation_id="corr", causation_id=None)


versions = st.integers(min_value=1, max_value=7)


@settings(max_examples=60, deadline=None)
@given(current=versions, data=st.data())
def test_any_stored_version_decodes_to_the_current_one_through_the_whole_chain(current, data):
    stored = data.draw(st.integers(min_value=1, max_value=current), label="stored")
    values = {f"f{i}": data.draw(st.integers(-1000, 1000), label=f"f{i}") for i in range(1, stored + 1)}
    registry = chain_registry(current)
    envelope = _envelope(stored, values)
    decoded = registry.decode(envelope.to_json())
    assert decoded.schema_version == current
    assert decoded.data == _expected(values, stored, current)
    # the write path (events loaded from the store) gives the very same envelope
    assert registry.to_current(envelope) == decoded
    # and lifting is idempotent: a current envelope is returned as it is
    assert registry.to_current(decoded) is decoded


@settings(max_examples=80, deadline=None)
@given(current=versions, ahead=st.integers(min_value=1, max_value=5))
def test_a_version_newer_than_the_code_is_not_poison_but_newer(current, ahead):
    registry = chain_registry(current)
    values = {f"f{i}": 1 for i in range(1, current + ahead + 1)}
    envelope = _envelope(current + ahead, values)
    with pytest.raises(NewerSchemaVersion):
        registry.decode(envelope.to_json())
    with pytest.raises(NewerSchemaVersion):
        registry.to_current(envelope)


@settings(max_examples=60, deadline=None)
@given(current=st.integers(min_value=2, max_value=7), data=st.data())
def test_a_missing_link_in_the_chain_is_poison_not_a_pause(current, data):
    missing = data.draw(st.integers(min_value=1, max_value=current - 1), label="missing")
    registry = EventRegistry()
    for version in range(1, current + 1):
        registry.register(TYPE, version, _schema(version))
        if version < current and version != missing:
            registry.register_upcaster(TYPE, version, _upcaster(version))
    envelope = _envelope(1, {"f1": 3})
    with pytest.raises(UnknownSchemaVersion) as raised:
        registry.decode(envelope.to_json())
    assert not isinstance(raised.value, NewerSchemaVersion)
    assert isinstance(raised.value, PoisonRecord)


def test_upcast_data_is_validated_against_each_version():
    registry = chain_registry(2)
    registry.register_upcaster(TYPE, 1, lambda data: {**data, "f2": "not an int"})
    with pytest.raises(PoisonRecord):
        registry.decode(_envelope(1, {"f1": 1}).to_json())


# -- AggregateStore: write path ---------------------------------------------------------------------

def _aggregates(registry, store=None):
    store = store or InMemoryEventStore()
    return store, AggregateStore(store, registry, producer="test", aggregate_type="counter")


def test_load_returns_old_events_at_the_current_version():
    old_registry = chain_registry(1)
    store, old = _aggregates(old_registry)
    old.append("c-1", 0, [NewEvent(TYPE, {"f1": 5})], Causation("corr", None))
    _, new = _aggregates(chain_registry(3), store)  # "the deploy": v3 code reads the v1 stream
    loaded = new.load("c-1")
    assert [(e.schema_version, e.data) for e in loaded.events] == [(3, {"f1": 5, "f2": 11, "f3": 23})]
    appended = new.append("c-1", loaded.version, [NewEvent(TYPE, {"f1": 1, "f2": 2, "f3": 3})], Causation("c", None))
    assert appended[0].schema_version == 3
    assert [e.schema_version for e in new.load("c-1").events] == [3, 3]
    # the stored documents keep what was written (history is never rewritten)
    assert [e["schema_version"] for c in store.read_all() for e in [ev.to_dict() for ev in c.events]] == [1, 3]


def test_append_returns_the_envelopes_and_the_commit_position_and_keeps_private_data_beside_them():
    store, aggregates = _aggregates(chain_registry(1))
    first = aggregates.append("c-1", 0, [NewEvent(TYPE, {"f1": 1}), NewEvent(TYPE, {"f1": 2})],
                              Causation("corr", None), private={1: {"note": "only for us"}})
    assert isinstance(first, Appended) and isinstance(first, list) and len(first) == 2
    assert first.position == 1
    second = aggregates.append("c-2", 0, [NewEvent(TYPE, {"f1": 3})], Causation("corr", None))
    assert second.position == 2
    commit = next(store.read_all(1))
    assert commit.private == {first[1].event_id: {"note": "only for us"}}
    assert "only for us" not in json.dumps([e.to_dict() for e in commit.events])
    by_id = aggregates.append("c-1", 2, [NewEvent(TYPE, {"f1": 4})], Causation("corr", None),
                              private={0: {}})  # empty private entries store nothing
    assert next(store.read_all(by_id.position)).private == {}
    assert aggregates.append("c-3", 0, [], Causation("corr", None)) == [] and Appended().position == 0


def test_private_data_for_an_unknown_event_is_refused():
    _, aggregates = _aggregates(chain_registry(1))
    with pytest.raises(ValueError):
        aggregates.append("c-1", 0, [NewEvent(TYPE, {"f1": 1})], Causation("corr", None),
                          private={str(uuid.uuid4()): {"x": 1}})
