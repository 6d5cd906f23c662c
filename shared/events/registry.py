"""Event types known to this code base: one marshmallow schema per (type, version), and upcasters.

Decoding a Kafka record goes through `EventRegistry.decode` (or its two halves, `parse` then
`decode_object`: a consumer looks at the type in between), the single place that
turns bytes into a validated, current-version `Envelope` or says precisely why it cannot:
bad JSON, a bad envelope, an unknown schema version, or data that fails its schema. Those
are poison records: the consumer dead-letters them. Unknown event *types* are not errors:
the contract says consumers skip them.

Schema evolution: a new version N+1 of an event is registered next to N with an upcaster
N -> N+1. Producers write the current version; readers lift older versions on both paths
(`decode` for Kafka records, `to_current` for events loaded from the store). A record *newer*
than this code knows is not poison (`NewerSchemaVersion`): the producer was deployed first, and
the consumer pauses that partition until it runs code that knows the version.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from marshmallow import Schema, ValidationError

from shared.events.compiled import FastSchema
from shared.events.envelope import Envelope

Upcaster = Callable[[dict], dict]


class PoisonRecord(Exception):
    """A record that can never be processed; `reason` is a short machine-readable code."""

    reason = "invalid"

    def __init__(self, message: str, details: object = None):
        super().__init__(message)
        self.details = details


class InvalidJson(PoisonRecord):
    reason = "invalid_json"


class InvalidEnvelope(PoisonRecord):
    reason = "invalid_envelope"


class UnknownSchemaVersion(PoisonRecord):
    reason = "unknown_schema_version"


class NewerSchemaVersion(UnknownSchemaVersion):
    """A version above the newest this code knows: wait for a deploy, never dead-letter."""

    reason = "unknown_schema_version"


class InvalidData(PoisonRecord):
    reason = "invalid_data"


@dataclass(frozen=True)
class UnknownEventType:
    """Decoded envelope of a type this registry does not know: to be skipped, not dead-lettered."""

    envelope: Envelope


class EventRegistry:
    def __init__(self) -> None:
        self._schemas: dict[tuple[str, int], type[Schema]] = {}
        # Building a marshmallow Schema deep-copies its fields: far dearer than a load. One
        # instance per (type, version) serves every load and dump (they keep no per-call state),
        # compiled (shared.events.compiled: marshmallow's answers, a fast path for valid data).
        self._instances: dict[tuple[str, int], FastSchema] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self._current: dict[str, int] = {}

    def register(self, event_type: str, version: int, schema: type[Schema]) -> None:
        key = (event_type, version)
        if key in self._schemas and self._schemas[key] is not schema:
            raise ValueError(f"{event_type} v{version} is already registered")
        self._schemas[key] = schema
        self._current[event_type] = max(version, self._current.get(event_type, 0))

    def register_upcaster(self, event_type: str, from_version: int, upcaster: Upcaster) -> None:
        """`upcaster` turns data of `from_version` into data of `from_version + 1`."""
        self._upcasters[(event_type, from_version)] = upcaster

    def knows(self, event_type: str) -> bool:
        return event_type in self._current

    def current_version(self, event_type: str) -> int:
        return self._current[event_type]

    def event_types(self) -> list[str]:
        return sorted(self._current)

    def validate_data(self, event_type: str, version: int, data: dict) -> dict:
        """Validate `data` against its schema; returns the serialisable (JSON) form."""
        schema = self._instances.get((event_type, version))
        if schema is None:
            schema_cls = self._schemas.get((event_type, version))
            if schema_cls is None:
                raise UnknownSchemaVersion(f"{event_type} v{version} is not a known schema version")
            schema = self._instances.setdefault((event_type, version), FastSchema(schema_cls()))
        try:
            return schema.json(data)
        except ValidationError as exc:
            raise InvalidData(f"{event_type} v{version} data failed validation", exc.messages) from exc

    def upcast(self, envelope: Envelope) -> Envelope:
        """Validate the stored version, then lift data version by version to the current one."""
        version = envelope.schema_version
        data = self.validate_data(envelope.event_type, version, envelope.data)
        current = self.current_version(envelope.event_type)
        while version < current:
            upcaster = self._upcasters.get((envelope.event_type, version))
            if upcaster is None:
                raise UnknownSchemaVersion(
                    f"no upcaster for {envelope.event_type} v{version} -> v{version + 1}"
                )
            data = upcaster(dict(data))
            version += 1
            data = self.validate_data(envelope.event_type, version, data)
        if version != envelope.schema_version or data != envelope.data:
            return envelope.with_data(data, version)
        return envelope

    def to_current(self, envelope: Envelope) -> Envelope:
        """An envelope of a known type at the current schema version (the store's read path).

        Events at the current version were validated when appended and are returned as they are;
        older ones go through the upcaster chain. Unknown types are returned unchanged.
        """
        current = self._current.get(envelope.event_type)
        if current is None or envelope.schema_version == current:
            return envelope
        if envelope.schema_version > current:
            raise NewerSchemaVersion(f"{envelope.event_type} v{envelope.schema_version} is newer than this code knows")
        return self.upcast(envelope)

    def decode(self, value: bytes | None, *, inbound_hris: bool = False) -> Envelope | UnknownEventType:
        return self.decode_object(self.parse(value), inbound_hris=inbound_hris)

    @staticmethod
    def parse(value: bytes | None) -> dict:
        """A record's value as a JSON object, not yet validated (a consumer looks at its
        `event_type` before paying for `decode_object`); raises InvalidJson."""
        try:
            raw = json.loads(value.decode("utf-8")) if value is not None else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidJson(f"record value is not UTF-8 JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise InvalidJson("record value is not a JSON object")
        return raw

    def decode_object(self, raw: dict, *, inbound_hris: bool = False) -> Envelope | UnknownEventType:
        """`decode` of a value already parsed (`parse`)."""
        try:
            envelope = Envelope.from_hris(raw) if inbound_hris else Envelope.from_dict(raw)
        except ValidationError as exc:
            raise InvalidEnvelope("envelope failed validation", exc.messages) from exc
        if not self.knows(envelope.event_type):
            return UnknownEventType(envelope)
        if envelope.schema_version > self.current_version(envelope.event_type):
            raise NewerSchemaVersion(
                f"{envelope.event_type} v{envelope.schema_version} is newer than this code knows"
            )
        return self.upcast(envelope)
