"""Who is told what: a pure function from one event (plus a few facts) to notification intents.

The rules (issue 6):
- `PairingProposed` -> mentor and mentee, with how to accept or decline; a mentee's own request
  (mentee choice: `proposed_by` is the mentee) -> the mentor only, asked to read the request
  (the mentee's message stays in matching: the message links to the proposal that shows it).
- `PairingActivated` -> both parties.
- `PairingDeclined`, `PairingExpired` -> the mentee and the cohort's admins.
- `MeetingScheduled`, `MeetingRescheduled` -> both parties, the `.ics` invite attached; a recurring
  series once: by its first meeting when scheduled, by `MeetingSeriesRescheduled` /
  `MeetingSeriesCancelled` when the whole series moves or is cancelled (its occurrences' own
  events, `series_index` > 0 or `moved_with_series`, notify nobody; no invite attached: the meeting
  page has the series' calendar file).
- a reminder 24 hours before a meeting (built by the reminder job, see `reminder_intents`).
- `MeetingHeld` -> both parties, asked for feedback.
- a circle's group meeting (issue 15: each member's copy is a meeting of that pair naming
  `group_meeting_id`): each member is told as above, the mentor once per group meeting (scheduled,
  each move, the reminder, held), not once per member: the mentor's dedupe key is the group meeting's
  (`group_meeting_key`), the same for every copy's event.
- `GoalsRevised` -> the mentor.
- `AgreementRevised` -> the party who did not write it: a new revision of the pair's agreement
  waits for their confirmation (the cadence it sets drives the at-risk clock only once both confirm).
- `PairingAtRisk` -> both parties and the cohort's admins.
- `ReviewRequested` -> that person.
- `KudosSent` -> the recipient; when the mentee shared it with the mentor's manager
  (`shared_with_id`, issue 15), that manager too (`kudos_shared`: recognition of their report,
  with a link to the page where they read it).
- gratitude, prompted at the moments that matter: `GoalAchieved` -> the mentee; a cohort closing
  (`CohortStatusChanged` to `closed`) -> the mentee of each of its active pairings; the pairing's
  fifth held meeting (`MeetingHeld` whose number among the pairing's held meetings is
  `GRATITUDE_MEETING`, `Facts.held_meeting_number`) -> the mentee, once per pairing; all asked
  whether they would like to thank their mentor (a link to the kudos form).
- `PairingCompleted` (its cohort closed, issue 15) -> both parties: thanks, and a link to the
  pairing's page where each says whether they would like to stay in touch.
- `PairingEnded` -> the other party (both when an admin or the system ended it) and the admins.
- a party left the company (`EmployeeTerminated`, or `PairingEnded` with reason
  `participant_left`) -> the other party and the admins, once per pairing whichever of the two
  events arrives first (both share the dedupe key `participant-left:<pairing_id>`).

A cohort's admins are whoever created it (`CohortCreated.created_by`) and the managers of its
programme (`ProgramManagersSet`; application/policies.py `cohort_admins`). Nobody known to have left
the company is notified. One intent per (dedupe key, recipient): an admin who is also a party
gets the party's message.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.events.catalog.feedback import KUDOS_SENT, REVIEW_REQUESTED
from shared.events.catalog.hris import EMPLOYEE_TERMINATED
from shared.events.catalog.matching import (
    COHORT_STATUS_CHANGED, PAIRING_ACTIVATED, PAIRING_COMPLETED, PAIRING_DECLINED, PAIRING_ENDED, PAIRING_EXPIRED,
    PAIRING_PROPOSED,
)
from shared.events.catalog.sessions import (
    AGREEMENT_REVISED, GOAL_ACHIEVED, GOALS_REVISED, MEETING_HELD, MEETING_RESCHEDULED, MEETING_SCHEDULED,
    MEETING_SERIES_CANCELLED, MEETING_SERIES_RESCHEDULED, PAIRING_AT_RISK,
)

GRATITUDE_MEETING = 5  # the held meeting (per pairing) that prompts the mentee to say thank you (issue 15)
PARTICIPANT_LEFT_REASON = "participant_left"  # a PairingEnded reason (shared.events.catalog.matching.END_REASONS)

# Every event type `route` may turn into intents (the routing policy subscribes to exactly these).
ROUTED = (
    PAIRING_PROPOSED, PAIRING_ACTIVATED, PAIRING_DECLINED, PAIRING_EXPIRED, PAIRING_ENDED,
    MEETING_SCHEDULED, MEETING_RESCHEDULED, MEETING_HELD, GOALS_REVISED, PAIRING_AT_RISK,
    REVIEW_REQUESTED, KUDOS_SENT, EMPLOYEE_TERMINATED, AGREEMENT_REVISED, GOAL_ACHIEVED, COHORT_STATUS_CHANGED,
    PAIRING_COMPLETED, MEETING_SERIES_RESCHEDULED, MEETING_SERIES_CANCELLED,
)

# category -> urgent? Urgent messages skip the daily digest.
CATEGORIES: dict[str, bool] = {
    "pairing_proposed": True,
    "mentor_request": True,
    "pairing_activated": False,
    "pairing_declined": True,
    "pairing_expired": True,
    "meeting_scheduled": True,
    "meeting_reminder": True,
    "feedback_request": False,
    "goals_revised": False,
    "agreement_proposed": False,
    "pairing_at_risk": True,
    "review_due": False,
    "kudos": False,
    "pairing_ended": True,
    "participant_left": True,
    "gratitude_prompt": False,
    "kudos_shared": False,
    "pairing_completed": False,
}


def is_urgent(category: str) -> bool:
    return CATEGORIES.get(category, True)


@dataclass(frozen=True)
class Intent:
    recipient_id: str
    category: str
    dedupe_key: str
    role: str  # mentor | mentee | admin | recipient | manager
    context: dict = field(default_factory=dict)
    attach_ics: bool = False


@dataclass(frozen=True)
class Facts:
    """What routing needs beyond the event itself, loaded by the application layer."""

    cohort_admins: dict = field(default_factory=dict)  # cohort_id -> list of employee ids
    cohort_channels: frozenset = frozenset()  # cohort ids whose admins set up a cohort chat channel
    terminated: frozenset = frozenset()  # employee ids known to have left the company
    pairings_of_leaver: tuple = ()  # for EmployeeTerminated: open/active pairings of that person
    active_pairings_of_cohort: tuple = ()  # for a cohort closing: its active pairings
    held_meeting_number: int | None = None  # for MeetingHeld: its place among the pairing's held meetings


class _Builder:
    def __init__(self, facts: Facts):
        self.facts = facts
        self.intents: list[Intent] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, recipient_id, category, dedupe_key, role, context, attach_ics=False):
        if not recipient_id or recipient_id in self.facts.terminated:
            return
        key = (dedupe_key, recipient_id)
        if key in self._seen:
            return
        self._seen.add(key)
        self.intents.append(Intent(recipient_id, category, dedupe_key, role, dict(context), attach_ics))

    def parties(self, data, category, key, *, ics=False, only=("mentor", "mentee")):
        for role in only:
            me, other = data.get(f"{role}_id"), data.get("mentee_id" if role == "mentor" else "mentor_id")
            self.add(me, category, key, role, {**data, "other_id": other}, ics)

    def admins(self, data, category, key):
        for admin in self.facts.cohort_admins.get(data.get("cohort_id"), []):
            self.add(admin, category, key, "admin", dict(data))
        # What the admins are told also goes to the cohort's chat channel, when it has one.
        if data.get("cohort_id") in self.facts.cohort_channels:
            self.add(cohort_recipient(data["cohort_id"]), category, key, "admin", dict(data))


def cohort_recipient(cohort_id: str) -> str:
    """The recipient id of a cohort's chat channel (its preferences hold the webhook URL)."""
    return f"cohort:{cohort_id}"


def participant_left_key(pairing_id: str) -> str:
    """One dedupe key for "a party left", whichever of EmployeeTerminated / PairingEnded comes first."""
    return f"participant-left:{pairing_id}"


def group_meeting_key(event_type: str, data: dict) -> str:
    """One key for what every member's copy of a group meeting says at once: scheduled, moved to
    one time (a move to another time later is news again), held."""
    kind = event_type if event_type != MEETING_RESCHEDULED else f"{event_type}:{data['starts_at']}"
    return f"group-meeting:{data['group_meeting_id']}:{kind}"


def _other_party(data: dict, who: str | None) -> tuple[str, ...]:
    if who == data.get("mentor_id"):
        return ("mentee",)
    if who == data.get("mentee_id"):
        return ("mentor",)
    return ("mentor", "mentee")


def route(event_type: str, event_id: str, data: dict, facts: Facts | None = None) -> list[Intent]:
    """The intents one event causes; [] for events nobody is told about."""
    b = _Builder(facts or Facts())
    if event_type == PAIRING_PROPOSED and data.get("proposed_by") and data.get("proposed_by") == data.get("mentee_id"):
        b.parties(data, "mentor_request", event_id, only=("mentor",))  # the mentee asked: nothing to tell them
    elif event_type == PAIRING_PROPOSED:
        b.parties(data, "pairing_proposed", event_id)
    elif event_type == PAIRING_ACTIVATED:
        b.parties(data, "pairing_activated", event_id)
    elif event_type in (PAIRING_DECLINED, PAIRING_EXPIRED):
        category = "pairing_declined" if event_type == PAIRING_DECLINED else "pairing_expired"
        b.parties(data, category, event_id, only=("mentee",))
        b.admins(data, category, event_id)
    elif event_type == MEETING_SCHEDULED and (data.get("series_index") or 0) > 0:
        pass  # a recurring series is announced once, by its first meeting (sessions serves the series' .ics)
    elif event_type in (MEETING_SCHEDULED, MEETING_RESCHEDULED) and data.get("group_meeting_id"):
        context = {**data, "rescheduled": event_type == MEETING_RESCHEDULED}
        b.parties(context, "meeting_scheduled", event_id, ics=True, only=("mentee",))
        b.add(data["mentor_id"], "meeting_scheduled", group_meeting_key(event_type, data), "mentor",
              {**context, "other_id": None}, True)
    elif event_type == MEETING_RESCHEDULED and data.get("moved_with_series"):
        pass  # moved with its whole series: MeetingSeriesRescheduled tells each party once
    elif event_type == MEETING_SERIES_RESCHEDULED:
        b.parties({**data, "meeting_id": data["meeting_ids"][0], "meeting_count": len(data["meeting_ids"]),
                   "rescheduled": True, "series_moved": True}, "meeting_scheduled", event_id)
    elif event_type == MEETING_SERIES_CANCELLED:
        b.parties({**data, "meeting_id": data["meeting_ids"][0], "meeting_count": len(data["meeting_ids"]),
                   "series_cancelled": True}, "meeting_scheduled", event_id)
    elif event_type in (MEETING_SCHEDULED, MEETING_RESCHEDULED):
        b.parties({**data, "rescheduled": event_type == MEETING_RESCHEDULED}, "meeting_scheduled", event_id, ics=True)
    elif event_type == MEETING_HELD:
        if data.get("group_meeting_id"):  # a circle member's copy: the mentor is asked once per group meeting
            b.parties(data, "feedback_request", event_id, only=("mentee",))
            b.add(data["mentor_id"], "feedback_request", group_meeting_key(event_type, data), "mentor",
                  {**data, "other_id": None})
        else:
            b.parties(data, "feedback_request", event_id)
        if b.facts.held_meeting_number == GRATITUDE_MEETING:
            b.parties({**data, "moment": "fifth_meeting"}, "gratitude_prompt", f"gratitude:fifth-meeting:{data['pairing_id']}",
                      only=("mentee",))
    elif event_type == GOALS_REVISED:
        b.parties(data, "goals_revised", event_id, only=("mentor",))
    elif event_type == AGREEMENT_REVISED:
        b.parties(data, "agreement_proposed", event_id, only=_other_party(data, data.get("revised_by")))
    elif event_type == PAIRING_AT_RISK:
        b.parties(data, "pairing_at_risk", event_id)
        b.admins(data, "pairing_at_risk", event_id)
    elif event_type == REVIEW_REQUESTED:
        b.add(data.get("employee_id"), "review_due", event_id, "recipient", data)
    elif event_type == KUDOS_SENT:
        b.add(data.get("to_id"), "kudos", event_id, "recipient", data)
        b.add(data.get("shared_with_id"), "kudos_shared", event_id, "manager", data)
    elif event_type == PAIRING_ENDED:
        if data.get("reason") == PARTICIPANT_LEFT_REASON:
            key = participant_left_key(data["pairing_id"])
            b.parties(data, "participant_left", key)
            b.admins(data, "participant_left", key)
        else:
            b.parties(data, "pairing_ended", event_id, only=_other_party(data, data.get("ended_by")))
            b.admins(data, "pairing_ended", event_id)
    elif event_type == PAIRING_COMPLETED:
        b.parties(data, "pairing_completed", event_id)
    elif event_type == GOAL_ACHIEVED:
        b.parties({**data, "moment": "goal_achieved"}, "gratitude_prompt", event_id, only=("mentee",))
    elif event_type == COHORT_STATUS_CHANGED and data.get("status") == "closed":
        for pairing in b.facts.active_pairings_of_cohort:
            b.parties({**pairing, "moment": "cohort_closing"}, "gratitude_prompt",
                      f"gratitude:{event_id}:{pairing['pairing_id']}", only=("mentee",))
    elif event_type == EMPLOYEE_TERMINATED:
        leaver = data["employee_id"]
        for pairing in b.facts.pairings_of_leaver:
            key = participant_left_key(pairing["pairing_id"])
            context = {**pairing, "left_id": leaver}
            b.parties(context, "participant_left", key, only=_other_party(pairing, leaver))
            b.admins(context, "participant_left", key)
    return b.intents


def reminder_intents(meeting: dict, facts: Facts | None = None) -> list[Intent]:
    """The 24-hours-before reminder of one scheduled meeting (dedupe: meeting and start time)."""
    b = _Builder(facts or Facts())
    key = f"reminder:{meeting['meeting_id']}:{meeting['starts_at']}"
    if meeting.get("group_meeting_id"):  # every copy of a circle's meeting: the mentor reminded once
        b.parties(meeting, "meeting_reminder", key, ics=True, only=("mentee",))
        b.add(meeting["mentor_id"], "meeting_reminder", f"reminder:{meeting['group_meeting_id']}:{meeting['starts_at']}",
              "mentor", {**meeting, "other_id": None}, True)
        return b.intents
    b.parties(meeting, "meeting_reminder", key, ics=True)
    return b.intents
