"""Events of the sessions service on `mentoring.sessions.v1` (docs/events.md).

Streams (the Kafka key is the stream id):
- a meeting (`meeting`): MeetingScheduled, MeetingRescheduled, MeetingCancelled, MeetingHeld,
  MeetingNoShow, MeetingDisputed (the other party contests the held / no-show record);
- a pairing's goals, engagement and agreement share the pairing's stream (stream id = pairing id,
  aggregate types `pairing-goals`, `pairing-engagement` and `pairing-agreement`): GoalsRevised,
  GoalAchieved, PairingAtRisk, PairingBackOnTrack, AgreementRevised, AgreementConfirmedByParty,
  AgreementConfirmed;
- a person's availability (`person-availability`, stream id `availability|<employee id>`):
  AvailabilitySet (the weekly intervals and zone in the commit's private part);
- a recurring meeting (`meeting-series`): MeetingSeriesScheduled (the rule; each occurrence is a
  meeting stream whose MeetingScheduled names `series_id` and `series_index`); MeetingSeriesRescheduled
  and MeetingSeriesCancelled when the whole series is moved or cancelled (once per change, naming the
  occurrences it moved or cancelled; each occurrence's own MeetingRescheduled / MeetingCancelled
  follows on its stream, a moved one marked `moved_with_series`);
- a circle's group meetings (`circle-meetings`, stream id `circle|<circle id>`, issue 15):
  GroupMeetingScheduled (the meeting and each member pairing's own meeting id); every member's copy
  is an ordinary meeting stream whose events name `group_meeting_id` and `circle_id`.

Private meeting notes, agendas and dispute reasons, the text of goals' milestones and action
items, and the expectations each party writes into the agreement are personal data: they are stored in the same commit as the
event, in a part the relay never publishes, and never travel here.

Schema history: MeetingScheduled v2 adds `actor_id`, who scheduled the meeting (a party, or an
admin acting for the pair; the organiser alone could not say which). v1 events never recorded it:
the upcaster sets null ("not recorded"), never a guess. MeetingHeld v1 gained the optional
`recorded_by` (an additive change, contract section 1): null in events stored before it. GoalsRevised
v1's goals gained the optional `milestones` and `action_items` (empty in events stored before them).
"""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from shared.events.envelope import Rfc3339Utc
from shared.events.catalog.matching import PERSON_ERASED, PersonErasedV1
from shared.events.registry import EventRegistry

# -- event types -------------------------------------------------------------------------------
MEETING_SCHEDULED = "MeetingScheduled"
MEETING_RESCHEDULED = "MeetingRescheduled"
MEETING_CANCELLED = "MeetingCancelled"
MEETING_HELD = "MeetingHeld"
MEETING_NO_SHOW = "MeetingNoShow"
MEETING_DISPUTED = "MeetingDisputed"
GOALS_REVISED = "GoalsRevised"
PAIRING_AT_RISK = "PairingAtRisk"
PAIRING_BACK_ON_TRACK = "PairingBackOnTrack"
GOAL_ACHIEVED = "GoalAchieved"
AGREEMENT_REVISED = "AgreementRevised"
AGREEMENT_CONFIRMED_BY_PARTY = "AgreementConfirmedByParty"
AGREEMENT_CONFIRMED = "AgreementConfirmed"
AVAILABILITY_SET = "AvailabilitySet"
MEETING_SERIES_SCHEDULED = "MeetingSeriesScheduled"
GROUP_MEETING_SCHEDULED = "GroupMeetingScheduled"
# Issue 15: a change of the whole series is one event (notifications tell each party once, not once
# per occurrence).
MEETING_SERIES_RESCHEDULED = "MeetingSeriesRescheduled"
MEETING_SERIES_CANCELLED = "MeetingSeriesCancelled"
AGREEMENT_EVENTS = (AGREEMENT_REVISED, AGREEMENT_CONFIRMED_BY_PARTY, AGREEMENT_CONFIRMED)
# The events that set a meeting's status (other services map each to one); a dispute does not.
MEETING_EVENTS = (MEETING_SCHEDULED, MEETING_RESCHEDULED, MEETING_CANCELLED, MEETING_HELD, MEETING_NO_SHOW)
MEETING_STREAM_EVENTS = (*MEETING_EVENTS, MEETING_DISPUTED)  # everything a meeting's stream holds

# -- aggregate types ---------------------------------------------------------------------------
MEETING = "meeting"
PAIRING_GOALS = "pairing-goals"
PAIRING_ENGAGEMENT = "pairing-engagement"
PAIRING_AGREEMENT = "pairing-agreement"
PERSON_AVAILABILITY = "person-availability"  # stream id `availability|<employee id>` (issue 15)
MEETING_SERIES = "meeting-series"  # a recurring meeting's rule; its occurrences are meetings (issue 15)
CIRCLE_MEETINGS = "circle-meetings"  # a circle's group meetings, stream id `circle|<circle id>` (issue 15)

# -- value lists -------------------------------------------------------------------------------
MEETING_STATUSES = ("scheduled", "cancelled", "held", "no_show")
DISPUTABLE_STATUSES = ("held", "no_show")  # what a party may contest once the other recorded it
GOAL_STATUSES = ("open", "achieved", "dropped")
USER_CANCEL_REASONS = ("conflict", "no_longer_needed", "other")
PAIRING_ENDED_REASON = "pairing_ended"  # the system cancels the meetings of an ended pairing
CANCEL_REASONS = (PAIRING_ENDED_REASON, *USER_CANCEL_REASONS)
AGREEMENT_CHANNELS = ("in_person", "video", "phone", "chat")
# What may leave the pair's conversations: nothing; the programme team (to get help); anything
# either of them chooses to share.
AGREEMENT_CONFIDENTIALITY = ("between_us", "programme_team", "open")
AGREEMENT_MAX_CADENCE_DAYS = 90

_id = dict(required=True, validate=validate.Length(min=1))


class _Event(Schema):
    class Meta:
        unknown = EXCLUDE  # consumers accept unknown extra fields

    # optional: absent in events stored before it existed and in the system's own reactions
    actor_id = fields.String(validate=validate.Length(min=1),
                             metadata={"description": "who acted: the employee id of the request's caller"})


class _PairingFields(_Event):
    pairing_id = fields.String(**_id)
    cohort_id = fields.String(**_id)
    mentor_id = fields.String(**_id)
    mentee_id = fields.String(**_id)


class _MeetingFields(_PairingFields):
    meeting_id = fields.String(**_id)
    # optional (additive): a member's copy of a circle's group meeting names it and its circle
    group_meeting_id = fields.String(allow_none=True, validate=validate.Length(min=1),
                                     metadata={"description": "the circle's group meeting this is a member's copy "
                                                              "of (absent: a meeting of the pair)"})
    circle_id = fields.String(allow_none=True, validate=validate.Length(min=1),
                              metadata={"description": "the circle of that group meeting (absent: none)"})


class MeetingScheduledV1(_MeetingFields):
    organizer_id = fields.String(**_id)
    starts_at = Rfc3339Utc(required=True)
    duration_minutes = fields.Integer(required=True, strict=True, validate=validate.Range(min=15, max=240))
    timezone = fields.String(**_id)
    series_id = fields.String(allow_none=True, validate=validate.Length(min=1),
                              metadata={"description": "the recurring series this meeting is an occurrence of "
                                                       "(absent: a single meeting)"})
    series_index = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=0),
                                  metadata={"description": "its place in the series, 0 first (optional)"})


class MeetingScheduledV2(MeetingScheduledV1):
    actor_id = fields.String(required=True, allow_none=True, validate=validate.Length(min=1))


def meeting_scheduled_v1_to_v2(data: dict) -> dict:
    """v1 never recorded who scheduled: null means "not recorded", not the organiser."""
    return {**data, "actor_id": None}


class MeetingRescheduledV1(MeetingScheduledV1):
    rescheduled_by = fields.String(**_id)
    moved_with_series = fields.Boolean(load_default=False, metadata={
        "description": "moved as part of its whole series (the series' MeetingSeriesRescheduled announces it); "
                       "false or absent: this meeting alone"})


class MeetingCancelledV1(_MeetingFields):
    cancelled_by = fields.String(**_id)
    reason = fields.String(**_id)


class MeetingHeldV1(_MeetingFields):
    held_at = Rfc3339Utc(required=True)
    duration_minutes = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    attendees = fields.List(fields.String(validate=validate.Length(min=1)), required=True)
    recorded_by = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1),
                                metadata={"description": "who recorded it as held (null: not recorded, "
                                                         "events stored before this optional field)"})


class MeetingNoShowV1(_MeetingFields):
    absent_ids = fields.List(fields.String(validate=validate.Length(min=1)), required=True,
                             validate=validate.Length(min=1))
    recorded_by = fields.String(**_id)


class MeetingDisputedV1(_MeetingFields):
    """A party contests the other's record that the meeting was held or a no-show. The reason is
    free text: it stays in the commit's private part, never here."""

    disputed_by = fields.String(**_id)
    disputed_status = fields.String(required=True, validate=validate.OneOf(DISPUTABLE_STATUSES),
                                    metadata={"description": "the record contested: held | no_show"})
    recorded_by = fields.String(required=True, allow_none=True, validate=validate.Length(min=1),
                                metadata={"description": "who recorded it (null: not recorded)"})
    disputed_at = Rfc3339Utc(required=True)


class GoalItemV1(_Event):
    """A milestone or an action item of a goal. Its text is free text: it stays in the commit's
    private part, never here."""

    item_id = fields.String(**_id)
    owner_id = fields.String(required=True, validate=validate.Length(min=1),
                             metadata={"description": "the party who owns it (mentor or mentee)"})
    due_on = fields.Date(required=True, allow_none=True)
    done = fields.Boolean(required=True)


class GoalV1(_Event):
    goal_id = fields.String(**_id)
    title = fields.String(**_id)
    status = fields.String(required=True, validate=validate.OneOf(GOAL_STATUSES))
    target_date = fields.Date(required=True, allow_none=True)
    progress = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100))
    milestones = fields.List(fields.Nested(GoalItemV1), load_default=list,
                             metadata={"description": "optional (empty in events stored before it)"})
    action_items = fields.List(fields.Nested(GoalItemV1), load_default=list,
                               metadata={"description": "optional (empty in events stored before it)"})


class GoalsRevisedV1(_PairingFields):
    revision = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    revised_by = fields.String(**_id)
    goals = fields.List(fields.Nested(GoalV1), required=True)


class GoalAchievedV1(_PairingFields):
    """A goal's status became `achieved` in a revision (stored in the same commit as its GoalsRevised)."""

    goal_id = fields.String(**_id)
    revision = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                              metadata={"description": "the goals revision that achieved it"})
    achieved_by = fields.String(**_id)


class _AgreementTerms(_PairingFields):
    revision = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    cadence_days = fields.Integer(required=True, strict=True,
                                  validate=validate.Range(min=1, max=AGREEMENT_MAX_CADENCE_DAYS))
    channel = fields.String(required=True, validate=validate.OneOf(AGREEMENT_CHANNELS))
    confidentiality = fields.String(required=True, validate=validate.OneOf(AGREEMENT_CONFIDENTIALITY))


class AgreementRevisedV1(_AgreementTerms):
    """A party proposed the pair's agreement (a new revision, to be confirmed by both). Each party's
    expectations are free text: they stay in the commit's private part, never here."""

    revised_by = fields.String(**_id)


class AgreementConfirmedByPartyV1(_PairingFields):
    revision = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    confirmed_by = fields.String(**_id)


class AgreementConfirmedV1(_AgreementTerms):
    """Both parties confirmed this revision: its cadence drives the pairing's at-risk clock."""

    confirmed_at = Rfc3339Utc(required=True)


class AvailabilitySetV1(_Event):
    """A person replaced their weekly availability (issue 15). The intervals and the time zone are
    personal data: they stay in the commit's private part, sealed under the person's key, never here."""

    employee_id = fields.String(**_id)
    interval_count = fields.Integer(required=True, strict=True, validate=validate.Range(min=0),
                                    metadata={"description": "how many weekly intervals (0: cleared)"})


class MeetingSeriesScheduledV1(_PairingFields):
    """A recurring meeting: every `interval_weeks` weeks at the first one's local time in `timezone`,
    `count` times; each occurrence is a meeting of its own (`meeting_ids`, in order)."""

    series_id = fields.String(**_id)
    organizer_id = fields.String(**_id)
    starts_at = Rfc3339Utc(required=True)
    duration_minutes = fields.Integer(required=True, strict=True, validate=validate.Range(min=15, max=240))
    timezone = fields.String(**_id)
    interval_weeks = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=4))
    count = fields.Integer(required=True, strict=True, validate=validate.Range(min=2, max=26))
    meeting_ids = fields.List(fields.String(validate=validate.Length(min=1)), required=True)


class GroupMemberV1(_Event):
    pairing_id = fields.String(**_id)
    mentee_id = fields.String(**_id)
    meeting_id = fields.String(**_id, metadata={"description": "the member's copy: an ordinary meeting"})


class GroupMeetingScheduledV1(_Event):
    """A circle's mentor (or an admin) scheduled a meeting of the whole circle (issue 15): one meeting
    stream per member pairing active then (`members`), each scheduled as any meeting is and naming
    `group_meeting_id`, so held, cadence and feedback count per member. The agenda is free text: it
    stays in the commits' private parts."""

    group_meeting_id = fields.String(**_id)
    circle_id = fields.String(**_id)
    cohort_id = fields.String(**_id)
    mentor_id = fields.String(**_id)
    organizer_id = fields.String(**_id)
    starts_at = Rfc3339Utc(required=True)
    duration_minutes = fields.Integer(required=True, strict=True, validate=validate.Range(min=15, max=240))
    timezone = fields.String(**_id)
    members = fields.List(fields.Nested(GroupMemberV1), required=True, validate=validate.Length(min=1))


class MeetingSeriesRescheduledV1(_PairingFields):
    """The whole series moved: its next occurrence to `starts_at`, every later one still to come by
    the same local shift (`meeting_ids`: the occurrences moved, in order)."""

    series_id = fields.String(**_id)
    organizer_id = fields.String(**_id)
    starts_at = Rfc3339Utc(required=True, metadata={"description": "the next occurrence's new start"})
    duration_minutes = fields.Integer(required=True, strict=True, validate=validate.Range(min=15, max=240))
    timezone = fields.String(**_id)
    interval_weeks = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=4))
    meeting_ids = fields.List(fields.String(validate=validate.Length(min=1)), required=True)
    rescheduled_by = fields.String(**_id)


class MeetingSeriesCancelledV1(_PairingFields):
    """Every occurrence of the series still to come cancelled (`meeting_ids`, in order)."""

    series_id = fields.String(**_id)
    meeting_ids = fields.List(fields.String(validate=validate.Length(min=1)), required=True)
    cancelled_by = fields.String(**_id)
    reason = fields.String(**_id)


class PairingAtRiskV1(_PairingFields):
    last_meeting_at = Rfc3339Utc(load_default=None, allow_none=True)
    days_without_meeting = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    detected_at = Rfc3339Utc(required=True)


class PairingBackOnTrackV1(_PairingFields):
    meeting_id = fields.String(**_id)
    held_at = Rfc3339Utc(required=True)


def register(registry: EventRegistry) -> None:
    registry.register(MEETING_SCHEDULED, 1, MeetingScheduledV1)
    registry.register(MEETING_SCHEDULED, 2, MeetingScheduledV2)
    registry.register_upcaster(MEETING_SCHEDULED, 1, meeting_scheduled_v1_to_v2)
    registry.register(MEETING_RESCHEDULED, 1, MeetingRescheduledV1)
    registry.register(MEETING_CANCELLED, 1, MeetingCancelledV1)
    registry.register(MEETING_HELD, 1, MeetingHeldV1)
    registry.register(MEETING_NO_SHOW, 1, MeetingNoShowV1)
    registry.register(MEETING_DISPUTED, 1, MeetingDisputedV1)
    registry.register(GOALS_REVISED, 1, GoalsRevisedV1)
    registry.register(PAIRING_AT_RISK, 1, PairingAtRiskV1)
    registry.register(PAIRING_BACK_ON_TRACK, 1, PairingBackOnTrackV1)
    registry.register(GOAL_ACHIEVED, 1, GoalAchievedV1)
    registry.register(AGREEMENT_REVISED, 1, AgreementRevisedV1)
    registry.register(AGREEMENT_CONFIRMED_BY_PARTY, 1, AgreementConfirmedByPartyV1)
    registry.register(AGREEMENT_CONFIRMED, 1, AgreementConfirmedV1)
    registry.register(AVAILABILITY_SET, 1, AvailabilitySetV1)
    registry.register(MEETING_SERIES_SCHEDULED, 1, MeetingSeriesScheduledV1)
    registry.register(GROUP_MEETING_SCHEDULED, 1, GroupMeetingScheduledV1)
    registry.register(MEETING_SERIES_RESCHEDULED, 1, MeetingSeriesRescheduledV1)
    registry.register(MEETING_SERIES_CANCELLED, 1, MeetingSeriesCancelledV1)
    registry.register(PERSON_ERASED, 1, PersonErasedV1)  # `service`: "sessions" (shared.erasure)
