"""HTTP: a person's weekly availability and a pairing's common free slots (issue 15,
docs/api-sessions-availability.md).

Availability is the caller's own (`/me`): nobody else reads or writes it through the API; the
slots route shows only when both are free, never either one's intervals. Who may ask for a
pairing's slots is who may schedule its meetings (the pair, admins, the programme's managers).
"""
from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from shared.http.app import request_causation
from shared.http.auth import current_principal, require
from services.sessions.adapters.http import _pairing_for_party
from services.sessions.application.availability import DEFAULT_DURATION, DEFAULT_LIMIT
from services.sessions.domain.availability import DAYS, MAX_INTERVALS
from services.sessions.domain.meetings import MAX_MINUTES, MIN_MINUTES

blp = Blueprint("sessions-availability", __name__, url_prefix="/v1",
                description="Weekly availability and common free slots")


def _context():
    return current_app.extensions["sessions"]


class IntervalIn(Schema):
    day = fields.String(required=True, validate=validate.OneOf(DAYS))
    start = fields.String(required=True, validate=validate.Length(equal=5), metadata={"description": "HH:MM local"})
    end = fields.String(required=True, validate=validate.Length(equal=5),
                        metadata={"description": "HH:MM local, after start; 24:00 ends the day"})


class AvailabilityIn(Schema):
    weekly = fields.List(fields.Nested(IntervalIn), required=True, validate=validate.Length(max=MAX_INTERVALS),
                         metadata={"description": "the whole week (replaces the previous one); [] clears it"})
    time_zone = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64),
                              metadata={"description": "IANA zone of the intervals; null: your HRIS zone"})


class IntervalOut(Schema):
    day = fields.String()
    start = fields.String()
    end = fields.String()


class AvailabilityOut(Schema):
    employee_id = fields.String()
    weekly = fields.List(fields.Nested(IntervalOut))
    time_zone = fields.String(metadata={"description": "the zone the intervals are in"})
    time_zone_source = fields.String(metadata={"description": "chosen | hris | default (UTC)"})
    version = fields.Integer(metadata={"description": "0: never set"})
    updated_at = fields.String(allow_none=True)


class SlotsArgs(Schema):
    first_day = fields.Date(data_key="from", load_default=None,
                            metadata={"description": "first UTC day (default today)"})
    last_day = fields.Date(data_key="to", load_default=None,
                           metadata={"description": "last UTC day, included (default from + 13; at most 31 days)"})
    duration_minutes = fields.Integer(load_default=DEFAULT_DURATION,
                                      validate=validate.Range(min=MIN_MINUTES, max=MAX_MINUTES))
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=100))


class LocalTimeOut(Schema):
    time_zone = fields.String()
    starts_at = fields.String()
    ends_at = fields.String()


class SlotOut(Schema):
    starts_at = fields.String(metadata={"description": "UTC"})
    ends_at = fields.String(metadata={"description": "UTC"})
    local = fields.Dict(keys=fields.String(), values=fields.Nested(LocalTimeOut),
                        metadata={"description": "party id -> the slot in their own zone"})


class SlotsOut(Schema):
    pairing_id = fields.String()
    first_day = fields.String(data_key="from", attribute="from")
    last_day = fields.String(data_key="to", attribute="to")
    duration_minutes = fields.Integer()
    time_zones = fields.Dict(keys=fields.String(), values=fields.String())
    missing_availability = fields.List(fields.String(), metadata={"description": "parties who set none yet: "
                                                                                "no slots until both have"})
    items = fields.List(fields.Nested(SlotOut))


def _availability_out(employee_id: str, state) -> dict:
    zone = _context().availability.zone_of(employee_id, state)
    return {"employee_id": employee_id, "weekly": [i.as_dict() for i in state.weekly], "time_zone": zone.name,
            "time_zone_source": zone.source, "version": state.version, "updated_at": state.updated_at}


@blp.route("/me/availability", methods=["GET"])
@require()
@blp.response(200, AvailabilityOut)
def my_availability():
    """The caller's weekly availability, in their zone."""
    subject = current_principal().subject
    return _availability_out(subject, _context().availability.current(subject))


@blp.route("/me/availability", methods=["PUT"])
@require()
@blp.arguments(AvailabilityIn)
@blp.response(200, AvailabilityOut)
def set_my_availability(body):
    """Replace the caller's week (emits AvailabilitySet; the intervals stay private). 422 names a bad
    interval (`weekly.<i>.start|end|day`: inverted, overlapping, not HH:MM) or an unknown `time_zone`."""
    subject = current_principal().subject
    state = _context().availability.set(subject, weekly=body["weekly"], time_zone=body["time_zone"],
                                        causation=request_causation())
    return _availability_out(subject, state)


@blp.route("/pairings/<pairing_id>/slots", methods=["GET"])
@require()
@blp.arguments(SlotsArgs, location="query")
@blp.response(200, SlotsOut)
def pairing_slots(args, pairing_id):
    """The next slots when both parties are available and neither has a scheduled meeting (in any of
    their pairings), in UTC and in each one's zone; none while a party has set no availability."""
    pairing = _pairing_for_party(pairing_id)
    return _context().availability.slots(pairing, first_day=args["first_day"], last_day=args["last_day"],
                                         duration_minutes=args["duration_minutes"], limit=args["limit"])
