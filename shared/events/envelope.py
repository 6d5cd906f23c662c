"""The event envelope from the public contract (section 1), and its validation.

Every event on every topic carries this envelope. Inbound HRIS events may omit the
aggregate fields, `producer`, `correlation_id` and `causation_id` and set `source` instead;
`Envelope.from_hris` fills the gaps so the rest of the code sees one shape.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from shared.clock import rfc3339, utcnow
from shared.events.compiled import FastSchema

_RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


class Rfc3339Utc(fields.String):
    """A timestamp kept as the exact string the producer wrote, checked to be RFC 3339 UTC."""

    default_error_messages = {"format": "Not an RFC 3339 UTC timestamp ending in Z."}
    fast_pattern = _RFC3339_UTC  # the same rule for shared.events.compiled's fast path

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _RFC3339_UTC.match(text):
            raise self.make_error("format")
        return text


class EnvelopeSchema(Schema):
    """Outbound envelope: every field required (contract section 1)."""

    class Meta:
        unknown = EXCLUDE  # consumers must accept unknown extra fields

    event_id = fields.UUID(required=True)
    event_type = fields.String(required=True, validate=validate.Length(min=1))
    schema_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    occurred_at = Rfc3339Utc(required=True)
    producer = fields.String(required=True, validate=validate.Length(min=1))
    aggregate_type = fields.String(required=True, validate=validate.Length(min=1))
    aggregate_id = fields.String(required=True, validate=validate.Length(min=1))
    aggregate_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    correlation_id = fields.String(required=True, validate=validate.Length(min=1))
    causation_id = fields.String(required=True, allow_none=True)
    data = fields.Dict(required=True)


class InboundHrisEnvelopeSchema(EnvelopeSchema):
    """HRIS records: aggregate fields, producer and correlation may be absent; `source` names the HRIS."""

    producer = fields.String(load_default=None, allow_none=True)
    aggregate_type = fields.String(load_default=None, allow_none=True)
    aggregate_id = fields.String(load_default=None, allow_none=True)
    aggregate_version = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1))
    correlation_id = fields.String(load_default=None, allow_none=True)
    causation_id = fields.String(load_default=None, allow_none=True)
    source = fields.String(load_default=None, allow_none=True)


# Reused instances: building a Schema costs more than loading with it. Compiled (the same answers,
# marshmallow's own on any input the compiled check is unsure about): every consumed record loads one.
_OUTBOUND = FastSchema(EnvelopeSchema())
_INBOUND_HRIS = FastSchema(InboundHrisEnvelopeSchema())


@dataclass(frozen=True)
class Envelope:
    event_id: str
    event_type: str
    schema_version: int
    occurred_at: str
    producer: str
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    correlation_id: str
    causation_id: str | None
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True).encode("utf-8")

    def with_data(self, data: dict, schema_version: int) -> "Envelope":
        return replace(self, data=data, schema_version=schema_version)

    @classmethod
    def from_dict(cls, raw: dict) -> "Envelope":
        """Validate an outbound-shaped envelope; raises marshmallow.ValidationError."""
        loaded = _OUTBOUND.load(raw)
        loaded["event_id"] = str(loaded["event_id"])
        return cls(**loaded)

    @classmethod
    def from_hris(cls, raw: dict) -> "Envelope":
        """Validate an inbound HRIS envelope and fill the fields an HRIS may omit."""
        loaded = _INBOUND_HRIS.load(raw)
        event_id = str(loaded["event_id"])
        data = loaded["data"]
        employee_id = data.get("employee_id") if isinstance(data, dict) else None
        aggregate_id = loaded.get("aggregate_id") or employee_id
        if not aggregate_id:
            raise ValidationError({"data": {"employee_id": ["Missing data for required field."]}})
        return cls(
            event_id=event_id,
            event_type=loaded["event_type"],
            schema_version=loaded["schema_version"],
            occurred_at=loaded["occurred_at"],
            producer=loaded.get("producer") or loaded.get("source") or "hris",
            aggregate_type=loaded.get("aggregate_type") or "employee",
            aggregate_id=str(aggregate_id),
            # HRIS streams carry no gap-free version; ordering uses occurred_at instead.
            aggregate_version=loaded.get("aggregate_version") or 1,
            correlation_id=loaded.get("correlation_id") or event_id,
            causation_id=loaded.get("causation_id"),
            data=data,
        )


def new_event(
    *,
    event_type: str,
    schema_version: int,
    producer: str,
    aggregate_type: str,
    aggregate_id: str,
    aggregate_version: int,
    data: dict,
    correlation_id: str,
    causation_id: str | None,
    occurred_at: datetime | None = None,
) -> Envelope:
    return Envelope(
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        schema_version=schema_version,
        occurred_at=rfc3339(occurred_at or utcnow()),
        producer=producer,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        aggregate_version=aggregate_version,
        correlation_id=correlation_id,
        causation_id=causation_id,
        data=data,
    )
