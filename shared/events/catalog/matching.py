"""Events of the matching service on `mentoring.matching.v1` (docs/events.md).

Streams (the Kafka key is the stream id):
- a programme (`program`): ProgramCreated, ProgramManagersSet (who manages it: the whole list);
- a cohort (`cohort`): CohortCreated (a duplicate names the cohort it copies), CohortStatusChanged,
  CohortRevised (only the settings that changed, listed in `changed`);
- an enrolment (`enrollment`, stream id `{cohort_id}|{employee_id}`, one per person per cohort, so
  the store itself refuses a double enrolment): ParticipantEnrolled, EnrollmentRevised (capacity,
  paused), EnrollmentWithdrawn;
- a matching run (`matching_run`): MatchingRunRequested, MatchingRunResultChunk (at most
  `RUN_CHUNK_SIZE` proposals and unmatched mentees each: no record grows with the cohort),
  MatchingRunCompleted (counts only), MatchingRunProposalsCreated, MatchingRunFailed;
- a pairing (`pairing`): PairingProposed and its lifecycle (PairingCompleted when its cohort closes
  while it is active, then each party's StayInTouchChosen). Every pairing event carries
  `pairing_id`, `cohort_id`, `mentor_id` and `mentee_id` so consumers need no lookup.
  `proposed_by` is `algorithm` (a run), an admin's id (by hand) or the mentee's own id: a
  mentee's request to a mentor (mentee choice), with `matching_run_id` null and the mentee's
  PairingAccepted in the same commit; their message stays in the commit's private part.

Who acted: events a request caused carry `actor_id` (the caller's employee id; stamped by
shared.aggregate from the request); reactions and the worker's jobs carry none (the system).
An answer given for someone else (an admin or programme manager accepting for the mentee) names
the actor in `accepted_by`/`declined_by` and the party in `on_behalf_of`.

Personal text (an enrolment's goals summary and preferences) is never in an event: it is stored in
the same commit, in a part the relay never publishes.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from shared.events.envelope import Rfc3339Utc
from shared.events.registry import EventRegistry

# -- event types -------------------------------------------------------------------------------
PROGRAM_CREATED = "ProgramCreated"
PROGRAM_MANAGERS_SET = "ProgramManagersSet"
COHORT_CREATED = "CohortCreated"
COHORT_STATUS_CHANGED = "CohortStatusChanged"
COHORT_REVISED = "CohortRevised"
PARTICIPANT_ENROLLED = "ParticipantEnrolled"
ENROLLMENT_REVISED = "EnrollmentRevised"
ENROLLMENT_WITHDRAWN = "EnrollmentWithdrawn"
MATCHING_RUN_REQUESTED = "MatchingRunRequested"
MATCHING_RUN_RESULT_CHUNK = "MatchingRunResultChunk"
MATCHING_RUN_COMPLETED = "MatchingRunCompleted"
MATCHING_RUN_PROPOSALS_CREATED = "MatchingRunProposalsCreated"
MATCHING_RUN_FAILED = "MatchingRunFailed"
PAIRING_PROPOSED = "PairingProposed"
PAIRING_ACCEPTED = "PairingAccepted"
PAIRING_DECLINED = "PairingDeclined"
PAIRING_ACTIVATED = "PairingActivated"
PAIRING_EXPIRED = "PairingExpired"
PAIRING_ENDED = "PairingEnded"
# Issue 15: at cohort close an active pairing is completed (not ended: the pair did what the
# programme asked); each party may then choose to stay in touch.
PAIRING_COMPLETED = "PairingCompleted"
STAY_IN_TOUCH_CHOSEN = "StayInTouchChosen"
# Erasure of a person (GDPR Art. 17, README Privacy): matching records the request (from the HRIS or
# `POST /v1/privacy/erasures`) on the person's erasure stream, erases what it holds, then says so.
# Every service publishes its own `PersonErased` (same schema, `service` = itself) on its own topic.
PERSON_ERASURE_REQUESTED = "PersonErasureRequested"
PERSON_ERASED = "PersonErased"

# -- aggregate types ---------------------------------------------------------------------------
PROGRAM = "program"
COHORT = "cohort"
ENROLLMENT = "enrollment"
MATCHING_RUN = "matching_run"
PAIRING = "pairing"
ERASURE = "erasure"  # one stream per person erased, `erasure|{employee_id}` (shared.erasure.stream_id)

# -- value lists -------------------------------------------------------------------------------
COHORT_STATUSES = ("draft", "enrolling", "matching", "active", "closed")
ROLES = ("mentor", "mentee")
WITHDRAWAL_REASONS = ("withdrawn", "participant_left", "by_admin")
END_REASONS = ("completed", "not_a_fit", "participant_left", "by_admin")
DECLINE_REASONS = ("no_time", "not_a_fit", "other")
MATCHING_MODES = ("maximize_score", "maximize_coverage")
PAIRING_STATUSES = ("proposed", "active", "declined", "expired", "ended", "completed")
OPEN_PAIRING_STATUSES = ("proposed", "active")
RUN_STATUSES = ("running", "completed", "failed")
RUN_CHUNK_SIZE = 500
# who chooses pairs: admins' matching runs (the only one so far), mentees choosing, or both
MATCHING_STYLES = ("admin_run", "mentee_choice", "both")
MAX_CAPACITY = 50
# a cohort's format (issue 15): one-to-one pairs, or circles (one mentor, a few mentees, one pairing each)
COHORT_FORMATS = ("pair", "circle")
MAX_CIRCLE_SIZE = 8
DEFAULT_CIRCLE_MIN_SIZE = 3
DEFAULT_CIRCLE_MAX_SIZE = 8
MAX_PROGRAM_MANAGERS = 50
# the settings CohortRevised may carry (each only when it changed)
COHORT_SETTINGS = ("name", "starts_on", "ends_on", "meeting_cadence_days", "answer_deadline_days", "rules",
                   "max_mentor_capacity", "matching_style", "format", "circle_min_size", "circle_max_size")

# The one map of pairing event -> the pairing's status after it (sessions, feedback and
# notifications use it too). `None`: the event does not change the status (an acceptance leaves
# the pairing proposed until the other party accepts too; activation says so).
PAIRING_STATUS_BY_EVENT: dict[str, str | None] = {
    PAIRING_PROPOSED: "proposed",
    PAIRING_ACCEPTED: None,
    PAIRING_DECLINED: "declined",
    PAIRING_ACTIVATED: "active",
    PAIRING_EXPIRED: "expired",
    PAIRING_ENDED: "ended",
    PAIRING_COMPLETED: "completed",
    STAY_IN_TOUCH_CHOSEN: None,
}
PAIRING_EVENTS = tuple(PAIRING_STATUS_BY_EVENT)

_id = dict(required=True, validate=validate.Length(min=1))


class _Event(Schema):
    class Meta:
        unknown = EXCLUDE  # consumers accept unknown extra fields

    # optional: absent in events stored before it existed and in the system's own reactions
    actor_id = fields.String(validate=validate.Length(min=1),
                             metadata={"description": "who acted: the employee id of the request's caller"})


class ProgramCreatedV1(_Event):
    program_id = fields.String(**_id)
    name = fields.String(**_id)
    description = fields.String(load_default=None, allow_none=True)
    created_by = fields.String(**_id)


class ProgramManagersSetV1(_Event):
    """The programme's managers, the whole list (an empty list: none); set by a platform admin."""

    program_id = fields.String(**_id)
    managers = fields.List(fields.String(validate=validate.Length(min=1)), required=True,
                           validate=validate.Length(max=MAX_PROGRAM_MANAGERS),
                           metadata={"description": "employee ids, sorted, no duplicates"})
    set_by = fields.String(**_id)


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
    # added later, optional: older events load with the defaults they had in effect
    max_mentor_capacity = fields.Integer(load_default=None, allow_none=True, strict=True,
                                         validate=validate.Range(min=1, max=MAX_CAPACITY))
    matching_style = fields.String(load_default="admin_run", validate=validate.OneOf(MATCHING_STYLES))
    duplicated_from = fields.String(load_default=None, allow_none=True,
                                    metadata={"description": "the cohort whose settings this next intake copies"})
    format = fields.String(load_default="pair", validate=validate.OneOf(COHORT_FORMATS), metadata={
        "description": "pair (one mentor, one mentee) or circle (one mentor and circle_min_size to circle_max_size "
                       "mentees, one pairing each)"})
    circle_min_size = fields.Integer(load_default=DEFAULT_CIRCLE_MIN_SIZE, strict=True,
                                     validate=validate.Range(min=1, max=MAX_CIRCLE_SIZE))
    circle_max_size = fields.Integer(load_default=DEFAULT_CIRCLE_MAX_SIZE, strict=True,
                                     validate=validate.Range(min=1, max=MAX_CIRCLE_SIZE))


class CohortRevisedV1(_Event):
    """A cohort's settings changed: only the fields named in `changed` are present."""

    cohort_id = fields.String(**_id)
    program_id = fields.String(**_id)
    changed = fields.List(fields.String(validate=validate.OneOf(COHORT_SETTINGS)), required=True,
                          validate=validate.Length(min=1))
    name = fields.String(validate=validate.Length(min=1))
    starts_on = fields.Date()
    ends_on = fields.Date()
    meeting_cadence_days = fields.Integer(strict=True, validate=validate.Range(min=1))
    answer_deadline_days = fields.Integer(strict=True, validate=validate.Range(min=1))
    rules = fields.Dict()
    max_mentor_capacity = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=1))
    matching_style = fields.String(validate=validate.OneOf(MATCHING_STYLES))
    format = fields.String(validate=validate.OneOf(COHORT_FORMATS))
    circle_min_size = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_CIRCLE_SIZE))
    circle_max_size = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_CIRCLE_SIZE))
    revised_by = fields.String(**_id)


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


class EnrollmentRevisedV1(_Event):
    """A mentor's capacity and/or whether the person is paused (no new proposals); pairings stay."""

    cohort_id = fields.String(**_id)
    enrollment_id = fields.String(**_id)
    employee_id = fields.String(**_id)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    capacity = fields.Integer(strict=True, validate=validate.Range(min=0))
    paused = fields.Boolean()
    revised_by = fields.String(**_id)


class EnrollmentWithdrawnV1(_Event):
    cohort_id = fields.String(**_id)
    enrollment_id = fields.String(**_id)
    employee_id = fields.String(**_id)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    reason = fields.String(required=True, validate=validate.OneOf(WITHDRAWAL_REASONS))


class MatchingRunRequestedV1(_Event):
    cohort_id = fields.String(**_id)
    run_id = fields.String(**_id)
    mode = fields.String(required=True, validate=validate.OneOf(MATCHING_MODES))
    dry_run = fields.Boolean(required=True)
    requested_by = fields.String(**_id)


class UnmatchedMenteeV1(_Event):
    mentee_id = fields.String(**_id)
    reason = fields.String(**_id)
    detail = fields.String(load_default=None, allow_none=True)


class RunProposalV1(_Event):
    pairing_id = fields.String(required=True, allow_none=True)  # None in a dry run
    mentor_id = fields.String(**_id)
    mentee_id = fields.String(**_id)
    score = fields.Float(required=True, validate=validate.Range(min=0, max=1))
    reasons = fields.List(fields.String(), required=True)
    circle_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1), metadata={
        "description": "the mentor's circle the mentee joins (a circle cohort); absent for pairs"})


class MatchingRunResultChunkV1(_Event):
    cohort_id = fields.String(**_id)
    run_id = fields.String(**_id)
    chunk = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    proposals = fields.List(fields.Nested(RunProposalV1), required=True,
                            validate=validate.Length(max=RUN_CHUNK_SIZE))
    unmatched = fields.List(fields.Nested(UnmatchedMenteeV1), required=True,
                            validate=validate.Length(max=RUN_CHUNK_SIZE))


class MatchingRunCompletedV1(_Event):
    """v1 (runs before they were asynchronous): lists on the cohort stream. Read only via the upcaster."""

    cohort_id = fields.String(**_id)
    run_id = fields.String(**_id)
    mode = fields.String(required=True, validate=validate.OneOf(MATCHING_MODES))
    input_hash = fields.String(**_id)
    matched = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    unmatched = fields.List(fields.Nested(UnmatchedMenteeV1), required=True)
    total_score = fields.Float(required=True)
    pairing_ids = fields.List(fields.String(), required=True)
    started_by = fields.String(**_id)


class MatchingRunCompletedV2(_Event):
    """The run's outcome, counts only: the proposals are in the run's result chunks."""

    cohort_id = fields.String(**_id)
    run_id = fields.String(**_id)
    mode = fields.String(required=True, validate=validate.OneOf(MATCHING_MODES))
    dry_run = fields.Boolean(required=True)
    input_hash = fields.String(**_id)
    matched = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    unmatched = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    total_score = fields.Float(required=True)
    chunks = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    answer_by = Rfc3339Utc(required=True, allow_none=True)
    started_by = fields.String(**_id)


def _run_completed_v1_to_v2(data: dict) -> dict:
    return {"cohort_id": data["cohort_id"], "run_id": data["run_id"], "mode": data["mode"], "dry_run": False,
            "input_hash": data["input_hash"], "matched": data["matched"], "unmatched": len(data["unmatched"]),
            "total_score": data["total_score"], "chunks": 0, "answer_by": None, "started_by": data["started_by"]}


class MatchingRunProposalsCreatedV1(_Event):
    cohort_id = fields.String(**_id)
    run_id = fields.String(**_id)
    proposed = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))


class MatchingRunFailedV1(_Event):
    cohort_id = fields.String(**_id)
    run_id = fields.String(**_id)
    reason = fields.String(**_id)
    detail = fields.String(load_default=None, allow_none=True)


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
    circle_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1), metadata={
        "description": "the mentoring circle this pairing is a member of (a cohort with format circle: one mentor, "
                       "3-8 mentees, one pairing per member); absent or null for a one-to-one pairing"})


_ON_BEHALF_OF = dict(validate=validate.Length(min=1), metadata={
    "description": "the party answered for, when someone else (an admin or manager) answered; absent otherwise"})


class PairingAcceptedV1(_PairingEvent):
    accepted_by = fields.String(**_id, metadata={"description": "who clicked (before issue 12: the party)"})
    role = fields.String(required=True, validate=validate.OneOf(ROLES),
                         metadata={"description": "whose acceptance this is: the mentor's or the mentee's"})
    on_behalf_of = fields.String(**_ON_BEHALF_OF)


class PairingDeclinedV1(_PairingEvent):
    declined_by = fields.String(**_id, metadata={"description": "who clicked (before issue 12: the party)"})
    on_behalf_of = fields.String(**_ON_BEHALF_OF)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(DECLINE_REASONS))


class PairingActivatedV1(_PairingEvent):
    activated_at = Rfc3339Utc(required=True)


class PairingExpiredV1(_PairingEvent):
    answer_by = Rfc3339Utc(required=True)


class PairingEndedV1(_PairingEvent):
    reason = fields.String(required=True, validate=validate.OneOf(END_REASONS))
    ended_by = fields.String(**_id)


class PairingCompletedV1(_PairingEvent):
    """The pairing's cohort closed while it was active: the mentoring is complete (not ended). The
    mentor's seat is free and the pair may be matched again in a later cohort."""

    completed_at = Rfc3339Utc(required=True)
    closed_cohort_event_id = fields.String(load_default=None, allow_none=True, metadata={
        "description": "the CohortStatusChanged (to closed) this completion followed from"})


class StayInTouchChosenV1(_PairingEvent):
    """A party of a completed pairing said whether they want to stay in touch (again: the newer
    answer counts). `staying_in_touch`: both parties' latest answers are yes, after this event."""

    employee_id = fields.String(**_id, metadata={"description": "the party who chose"})
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    stay_in_touch = fields.Boolean(required=True)
    staying_in_touch = fields.Boolean(required=True)


ERASURE_SOURCES = ("hris", "api")
ERASING_SERVICES = ("matching", "sessions", "feedback", "notifications")


class PersonErasureRequestedV1(Schema):
    class Meta:
        unknown = EXCLUDE

    employee_id = fields.String(**_id, metadata={"privacy": "identifier"})
    source = fields.String(required=True, validate=validate.OneOf(ERASURE_SOURCES))
    requested_at = Rfc3339Utc(required=True)
    requested_by = fields.String(load_default=None, allow_none=True,
                                 metadata={"description": "the admin who asked (api); null for the HRIS"})


class PersonErasedV1(Schema):
    """One per service per person: that service holds none of the person's personal data any more
    (its read models; README Privacy says what the event stores still keep)."""

    class Meta:
        unknown = EXCLUDE

    employee_id = fields.String(**_id, metadata={"privacy": "identifier"})
    service = fields.String(required=True, validate=validate.OneOf(ERASING_SERVICES))
    at = Rfc3339Utc(required=True)


def register(registry: EventRegistry) -> None:
    registry.register(PROGRAM_CREATED, 1, ProgramCreatedV1)
    registry.register(PROGRAM_MANAGERS_SET, 1, ProgramManagersSetV1)
    registry.register(COHORT_CREATED, 1, CohortCreatedV1)
    registry.register(COHORT_STATUS_CHANGED, 1, CohortStatusChangedV1)
    registry.register(COHORT_REVISED, 1, CohortRevisedV1)
    registry.register(PARTICIPANT_ENROLLED, 1, ParticipantEnrolledV1)
    registry.register(ENROLLMENT_REVISED, 1, EnrollmentRevisedV1)
    registry.register(ENROLLMENT_WITHDRAWN, 1, EnrollmentWithdrawnV1)
    registry.register(MATCHING_RUN_REQUESTED, 1, MatchingRunRequestedV1)
    registry.register(MATCHING_RUN_RESULT_CHUNK, 1, MatchingRunResultChunkV1)
    registry.register(MATCHING_RUN_COMPLETED, 1, MatchingRunCompletedV1)
    registry.register(MATCHING_RUN_COMPLETED, 2, MatchingRunCompletedV2)
    registry.register_upcaster(MATCHING_RUN_COMPLETED, 1, _run_completed_v1_to_v2)
    registry.register(MATCHING_RUN_PROPOSALS_CREATED, 1, MatchingRunProposalsCreatedV1)
    registry.register(MATCHING_RUN_FAILED, 1, MatchingRunFailedV1)
    registry.register(PAIRING_PROPOSED, 1, PairingProposedV1)
    registry.register(PAIRING_ACCEPTED, 1, PairingAcceptedV1)
    registry.register(PAIRING_DECLINED, 1, PairingDeclinedV1)
    registry.register(PAIRING_ACTIVATED, 1, PairingActivatedV1)
    registry.register(PAIRING_EXPIRED, 1, PairingExpiredV1)
    registry.register(PAIRING_ENDED, 1, PairingEndedV1)
    registry.register(PAIRING_COMPLETED, 1, PairingCompletedV1)
    registry.register(STAY_IN_TOUCH_CHOSEN, 1, StayInTouchChosenV1)
    registry.register(PERSON_ERASURE_REQUESTED, 1, PersonErasureRequestedV1)
    registry.register(PERSON_ERASED, 1, PersonErasedV1)
