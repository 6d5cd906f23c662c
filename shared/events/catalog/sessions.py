"""Events of the sessions service on `mentoring.sessions.v1` (docs/events.md).

Meetings, a pairing's goal list, and engagement signals (at risk / back on track). Private
meeting notes and agendas are personal data: they stay in the sessions service, never here.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from shared.events.envelope import Rfc3339Utc
from shared.events.registry import EventRegistry

GOAL_STATUSES = ("open", "achieved", "dropped")
CANCEL_REASONS = ("pairing_ended", "conflict", "no_longer_needed", "other")

_id = dict(required=True, validate=validate.Length(min=1))


class _Event(Schema):
    class Meta:
        unknown = EXCLUDE  # consumers accept unknown extra fields


class _PairingFields(_Event):
    pairing_id = fields.String(**_id)
    cohort_id = fields.String(**_id)
    mentor_id = fields.String(**_id)
    mentee_id = fields.String(**_id)


class _MeetingFields(_PairingFields):
    meeting_id = fields.String(**_id)


class MeetingScheduledV1(_MeetingFields):
    organizer_id = fields.String(**_id)
    starts_at = Rfc3339Utc(required=True)
    duration_minutes = fields.Integer(required=True, strict=True, validate=validate.Range(min=15, max=240))
    timezone = fields.String(**_id)


class MeetingRescheduledV1(MeetingScheduledV1):
    rescheduled_by = fields.String(**_id)


class MeetingCancelledV1(_MeetingFields):
    cancelled_by = fields.String(**_id)
    reason = fields.String(**_id)


class MeetingHeldV1(_MeetingFields):
    held_at = Rfc3339Utc(required=True)
    duration_minutes = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    attendees = fields.List(fields.String(validate=validate.Length(min=1)), required=True)


class MeetingNoShowV1(_MeetingFields):
    absent_ids = fields.List(fields.String(validate=validate.Length(min=1)), required=True,
                             validate=validate.Length(min=1))
    recorded_by = fields.String(**_id)


class GoalV1(_Event):
    goal_id = fields.String(**_id)
    title = fields.String(**_id)
    status = fields.String(required=True, validate=validate.OneOf(GOAL_STATUSES))
    target_date = fields.Date(required=True, allow_none=True)
    progress = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100))


class GoalsRevisedV1(_PairingFields):
    revision = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    revised_by = fields.String(**_id)
    goals = fields.List(fields.Nested(GoalV1), required=True)


class PairingAtRiskV1(_PairingFields):
    last_meeting_at = Rfc3339Utc(load_default=None, allow_none=True)
    days_without_meeting = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    detected_at = Rfc3339Utc(required=True)


class PairingBackOnTrackV1(_PairingFields):
    meeting_id = fields.String(**_id)
    held_at = Rfc3339Utc(required=True)


def register(registry: EventRegistry) -> None:
    registry.register("MeetingScheduled", 1, MeetingScheduledV1)
    registry.register("MeetingRescheduled", 1, MeetingRescheduledV1)
    registry.register("MeetingCancelled", 1, MeetingCancelledV1)
    registry.register("MeetingHeld", 1, MeetingHeldV1)
    registry.register("MeetingNoShow", 1, MeetingNoShowV1)
    registry.register("GoalsRevised", 1, GoalsRevisedV1)
    registry.register("PairingAtRisk", 1, PairingAtRiskV1)
    registry.register("PairingBackOnTrack", 1, PairingBackOnTrackV1)
