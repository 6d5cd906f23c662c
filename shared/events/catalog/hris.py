"""Inbound HRIS events on `hris.employees.v1` (contract section 3)."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from shared.events.envelope import Rfc3339Utc
from shared.events.registry import EventRegistry

EMPLOYEE_UPSERTED = "EmployeeUpserted"
EMPLOYEE_TERMINATED = "EmployeeTerminated"
EMPLOYEE_ERASURE_REQUESTED = "EmployeeErasureRequested"  # GDPR Art. 17 (contract §6, README Privacy)
EMPLOYEE_EVENTS = (EMPLOYEE_UPSERTED, EMPLOYEE_TERMINATED)


def _iana_zone(name: str) -> None:
    """Marshmallow 4 ignores a validator's return value: it must raise."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError("Not an IANA time zone name.") from exc


class EmployeeUpsertedV1(Schema):
    class Meta:
        unknown = EXCLUDE

    employee_id = fields.String(required=True, validate=validate.Length(min=1))
    email = fields.Email(load_default=None, allow_none=True)
    display_name = fields.String(load_default=None, allow_none=True)
    title = fields.String(load_default=None, allow_none=True)
    department = fields.String(load_default=None, allow_none=True)
    level = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1, max=10))
    manager_id = fields.String(load_default=None, allow_none=True)
    location = fields.String(load_default=None, allow_none=True)
    timezone = fields.String(
        load_default=None, allow_none=True, validate=_iana_zone
    )
    languages = fields.List(fields.String(validate=validate.Length(equal=2)), load_default=list)
    skills = fields.List(fields.String(), load_default=list)
    hire_date = fields.Date(load_default=None, allow_none=True)


class EmployeeTerminatedV1(Schema):
    class Meta:
        unknown = EXCLUDE

    employee_id = fields.String(required=True, validate=validate.Length(min=1))
    terminated_on = fields.Date(required=True)


class EmployeeErasureRequestedV1(Schema):
    """The HRIS asks every service to erase the person (contract §6): each erases what it holds and
    publishes `PersonErased` on its own topic."""

    class Meta:
        unknown = EXCLUDE

    employee_id = fields.String(required=True, validate=validate.Length(min=1), metadata={"privacy": "identifier"})
    requested_at = Rfc3339Utc(required=True)


def register(registry: EventRegistry) -> None:
    registry.register(EMPLOYEE_UPSERTED, 1, EmployeeUpsertedV1)
    registry.register(EMPLOYEE_TERMINATED, 1, EmployeeTerminatedV1)
    registry.register(EMPLOYEE_ERASURE_REQUESTED, 1, EmployeeErasureRequestedV1)
