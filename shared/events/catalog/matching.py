"""Events of the matching service on `mentoring.matching.v1` (docs/events.md).

Programmes, cohorts (with enrolments and matching runs) and pairings. Every pairing event
carries `pairing_id`, `cohort_id`, `mentor_id` and `mentee_id` so consumers need no lookup.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from shared.events.envelope import Rfc3339Utc
from shared.events.registry import EventRegistry

COHORT_STATUSES = ("draft", "enrolling", "matching", "active", "closed")
ROLES = ("mentor", "mentee")
WITHDRAWAL_REASONS = ("withdrawn", "participant_left", "by_admin")
END_REASONS = ("completed", "not_a_fit", "participant_left", "by_admin")
DECLINE_REASONS = ("no_time", "not_a_fit", "other")
MATCHING_MODES = ("maximize_score", "maximize_coverage")

_id = dict(required=True, validate=validate.Length(min=1))


class _Event(Schema):
    class Meta:
        unknown = EXCLUDE  # consumers accept unknown extra fields


class ProgramCreatedV1(_Event):
    program_id = fields.String(**_id)
    name = fields.String(**_id)
    description = fields.String(load_default=None, allow_none=True)
    created_by = fields.String(**_id)


class CohortCreatedV1(_Event):
    cohort_id = fields.String(**_id)
    program_id = fields.String(**_id)
    name = fields.String(**_id)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    status = fields.String(required=True, validate=validate.OneOf(COHORT_STATUSES))
    meeting_cadence_days = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    answer_deadline_days = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    rules = fields.Dict(required=True)
    created_by = fields.String(**_id)


class CohortStatusChangedV1(_Event):
    cohort_id = fields.String(**_id)
    program_id = fields.String(**_id)
    status = fields.String(required=True, validate=validate.OneOf(COHORT_STATUSES))
    previous_status = fields.String(required=True, validate=validate.OneOf(COHORT_STATUSES))
    changed_by = fields.String(**_id)


class ParticipantEnrolledV1(_Event):
    cohort_id = fields.String(**_id)
    enrollment_id = fields.String(**_id)
    employee_id = fields.String(**_id)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    capacity = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    topics = fields.List(fields.String(), required=True)


class EnrollmentWithdrawnV1(_Event):
    cohort_id = fields.String(**_id)
    enrollment_id = fields.String(**_id)
    employee_id = fields.String(**_id)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    reason = fields.String(required=True, validate=validate.OneOf(WITHDRAWAL_REASONS))


class UnmatchedMenteeV1(_Event):
    mentee_id = fields.String(**_id)
    reason = fields.String(**_id)


class MatchingRunCompletedV1(_Event):
    cohort_id = fields.String(**_id)
    run_id = fields.String(**_id)
    mode = fields.String(required=True, validate=validate.OneOf(MATCHING_MODES))
    input_hash = fields.String(**_id)
    matched = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    unmatched = fields.List(fields.Nested(UnmatchedMenteeV1), required=True)
    total_score = fields.Float(required=True)
    pairing_ids = fields.List(fields.String(), required=True)
    started_by = fields.String(**_id)


class _PairingEvent(_Event):
    pairing_id = fields.String(**_id)
    cohort_id = fields.String(**_id)
    mentor_id = fields.String(**_id)
    mentee_id = fields.String(**_id)


class PairingProposedV1(_PairingEvent):
    score = fields.Float(required=True, validate=validate.Range(min=0, max=1))
    reasons = fields.List(fields.String(), required=True)
    proposed_by = fields.String(**_id)
    matching_run_id = fields.String(required=True, allow_none=True)
    answer_by = Rfc3339Utc(required=True)


class PairingAcceptedV1(_PairingEvent):
    accepted_by = fields.String(**_id)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class PairingDeclinedV1(_PairingEvent):
    declined_by = fields.String(**_id)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(DECLINE_REASONS))


class PairingActivatedV1(_PairingEvent):
    activated_at = Rfc3339Utc(required=True)


class PairingExpiredV1(_PairingEvent):
    answer_by = Rfc3339Utc(required=True)


class PairingEndedV1(_PairingEvent):
    reason = fields.String(required=True, validate=validate.OneOf(END_REASONS))
    ended_by = fields.String(**_id)


def register(registry: EventRegistry) -> None:
    registry.register("ProgramCreated", 1, ProgramCreatedV1)
    registry.register("CohortCreated", 1, CohortCreatedV1)
    registry.register("CohortStatusChanged", 1, CohortStatusChangedV1)
    registry.register("ParticipantEnrolled", 1, ParticipantEnrolledV1)
    registry.register("EnrollmentWithdrawn", 1, EnrollmentWithdrawnV1)
    registry.register("MatchingRunCompleted", 1, MatchingRunCompletedV1)
    registry.register("PairingProposed", 1, PairingProposedV1)
    registry.register("PairingAccepted", 1, PairingAcceptedV1)
    registry.register("PairingDeclined", 1, PairingDeclinedV1)
    registry.register("PairingActivated", 1, PairingActivatedV1)
    registry.register("PairingExpired", 1, PairingExpiredV1)
    registry.register("PairingEnded", 1, PairingEndedV1)
