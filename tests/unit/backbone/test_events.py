"""Envelope, schemas, registry and upcasters: no servers."""
from __future__ import annotations

import json
import uuid

import pytest
from marshmallow import Schema, fields

from shared.events.catalog import default_registry
from shared.events.envelope import Envelope, new_event
from shared.events.registry import (
    EventRegistry, InvalidData, InvalidEnvelope, InvalidJson, UnknownEventType, UnknownSchemaVersion,
)

HRIS_LINE = {
    "data": {"department": "Engineering", "display_name": "Zoe Sato", "email": "zoe@example.com",
             "employee_id": "E000002", "hire_date": "2022-10-16", "languages": ["en", "hi"], "level": 9,
             "location": "Bangalore", "manager_id": "E000001", "skills": ["mentoring"],
             "timezone": "Asia/Kolkata", "title": "VP"},
    "event_id": "c3cb423e-f673-4ae0-8387-04a76c8d6a35", "event_type": "EmployeeUpserted",
    "occurred_at": "2026-11-01T06:00:01Z", "schema_version": 1, "source": "workday",
}


def _encode(raw) -> bytes:
    return json.dumps(raw).encode()


def test_outbound_envelope_has_exactly_the_contract_fields():
    event = new_event(event_type="PairingProposed", schema_version=1, producer="matching", aggregate_type="pairing",
                      aggregate_id="p-1", aggregate_version=1, data={"x": 1}, correlation_id="req-9", causation_id=None)
    raw = json.loads(event.to_json())
    assert set(raw) == {"event_id", "event_type", "schema_version", "occurred_at", "producer", "aggregate_type",
                        "aggregate_id", "aggregate_version", "correlation_id", "causation_id", "data"}
    assert raw["occurred_at"].endswith("Z")
    uuid.UUID(raw["event_id"])
    assert Envelope.from_dict(raw) == event


def test_envelope_rejects_a_missing_or_bad_field_and_accepts_unknown_extras():
    event = new_event(event_type="T", schema_version=1, producer="matching", aggregate_type="t", aggregate_id="a",
                      aggregate_version=1, data={}, correlation_id="c", causation_id="x")
    raw = event.to_dict() | {"something_new": True}
    assert Envelope.from_dict(raw).event_type == "T"
    registry = default_registry()
    for broken in ({**raw, "aggregate_version": 0}, {**raw, "occurred_at": "2026-11-01 06:00:00"},
                   {k: v for k, v in raw.items() if k != "correlation_id"}, {**raw, "event_id": "not-a-uuid"}):
        with pytest.raises(InvalidEnvelope):
            registry.decode(_encode(broken))


def test_hris_record_decodes_with_the_fields_an_hris_may_omit_filled():
    envelope = default_registry().decode(_encode(HRIS_LINE), inbound_hris=True)
    assert envelope.aggregate_id == "E000002" and envelope.aggregate_type == "employee"
    assert envelope.producer == "workday"
    assert envelope.correlation_id == HRIS_LINE["event_id"]
    assert envelope.data["languages"] == ["en", "hi"]


@pytest.mark.parametrize("field,value", [("level", 11), ("timezone", "Mars/Olympus"), ("languages", ["english"]),
                                         ("hire_date", "yesterday")])
def test_hris_data_failing_its_schema_is_poison_naming_the_field(field, value):
    raw = json.loads(json.dumps(HRIS_LINE))
    raw["data"][field] = value
    with pytest.raises(InvalidData) as caught:
        default_registry().decode(_encode(raw), inbound_hris=True)
    assert field in caught.value.details


def test_bad_json_unknown_version_and_unknown_type():
    registry = default_registry()
    with pytest.raises(InvalidJson):
        registry.decode(b"\xff{not json")
    with pytest.raises(InvalidJson):
        registry.decode(b"[1, 2]")
    with pytest.raises(UnknownSchemaVersion):
        registry.decode(_encode({**HRIS_LINE, "schema_version": 7}), inbound_hris=True)
    unknown = registry.decode(_encode({**HRIS_LINE, "event_type": "EmployeeTeleported"}), inbound_hris=True)
    assert isinstance(unknown, UnknownEventType)


class _V1(Schema):
    full_name = fields.String(required=True)


class _V2(Schema):
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)


class _V3(Schema):
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    nickname = fields.String(allow_none=True, required=True)


def _registry_with_upcasters() -> EventRegistry:
    registry = EventRegistry()
    registry.register("Named", 1, _V1)
    registry.register("Named", 2, _V2)
    registry.register("Named", 3, _V3)

    def v1_to_v2(data):
        first, _, last = data["full_name"].partition(" ")
        return {"first_name": first, "last_name": last}

    registry.register_upcaster("Named", 1, v1_to_v2)
    registry.register_upcaster("Named", 2, lambda data: {**data, "nickname": None})
    return registry


def test_upcasters_lift_old_versions_step_by_step_to_the_current_one():
    registry = _registry_with_upcasters()
    old = new_event(event_type="Named", schema_version=1, producer="matching", aggregate_type="n", aggregate_id="n1",
                    aggregate_version=1, data={"full_name": "Ada Lovelace"}, correlation_id="c", causation_id=None)
    current = registry.decode(old.to_json())
    assert current.schema_version == 3
    assert current.data == {"first_name": "Ada", "last_name": "Lovelace", "nickname": None}
    assert current.event_id == old.event_id


def test_a_missing_upcaster_is_an_unknown_version_not_a_crash():
    registry = EventRegistry()
    registry.register("Named", 1, _V1)
    registry.register("Named", 2, _V2)
    old = new_event(event_type="Named", schema_version=1, producer="matching", aggregate_type="n", aggregate_id="n1",
                    aggregate_version=1, data={"full_name": "Ada"}, correlation_id="c", causation_id=None)
    with pytest.raises(UnknownSchemaVersion):
        registry.decode(old.to_json())


def test_every_catalog_event_type_has_a_schema_for_each_version_up_to_current():
    registry = default_registry()
    assert {"EmployeeUpserted", "EmployeeTerminated"} <= set(registry.event_types())
    for event_type in registry.event_types():
        for version in range(1, registry.current_version(event_type) + 1):
            assert (event_type, version) in registry._schemas
