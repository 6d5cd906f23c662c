"""Reactions to other services' events: who is told what (routing), and the meeting reminders.

`RoutingPolicy` is fed by the consumer after the views (application/projections.py) have
applied the same event. It routes each source event once (domain.routing), however often the
event is redelivered or replayed (`routed_events`), and hands the intents to the `Enqueuer`,
which only *enqueues* deliveries: the senders (application/delivery.py) send them off the poll
loop. It owns no read model (`collections = ()`), so a rebuild never runs it.

`Reminders` is a periodic job: 24 hours before each scheduled meeting, both parties.
"""
from __future__ import annotations

from datetime import timedelta

from shared import topics
from shared.clock import parse_rfc3339
from shared.consumer import Projection
from shared.directory import TERMINATED
from shared.events.catalog.hris import EMPLOYEE_TERMINATED
from shared.events.catalog.matching import COHORT_STATUS_CHANGED, OPEN_PAIRING_STATUSES
from shared.events.catalog.sessions import MEETING_HELD
from shared.events.envelope import Envelope
from services.notifications.application.delivery import Enqueuer, Source
from services.notifications.application.messages import People
from services.notifications.domain.routing import (
    GRATITUDE_MEETING, PARTICIPANT_LEFT_REASON, ROUTED, Facts, cohort_recipient, reminder_intents, route,
)

PEOPLE_FIELDS = ("employee_id", "mentor_id", "mentee_id", "to_id", "from_id")


def cohort_admins(directory, scopes, cohort_id: str) -> list[str]:
    """Who is told a cohort's admin matters (declined, expired, at risk, ended, a party left): the
    cohort's creator (`CohortCreated.created_by`), then the managers of its programme
    (`ProgramManagersSet`, this service's shared.scopes projection), each once. Two `_id` reads:
    the cohort's programme and its managers."""
    admins = list(directory.admins_of(cohort_id))
    if scopes is not None:
        admins += sorted(scopes.managers_of(scopes.program_of(cohort_id)) - set(admins))
    return admins


def facts_for(people: People, directory, data: dict, pairings_of_leaver: tuple = (), scopes=None,
              active_pairings_of_cohort: tuple = (), held_meeting_number: int | None = None) -> Facts:
    """What routing needs beyond the event: admins, who left, which cohorts have a chat channel.

    `scopes` (shared.scopes.ProgrammeScopeReader) adds the programmes' managers to the cohorts'
    admins; None only where no admin is told (meeting reminders)."""
    ids = {data.get(name) for name in PEOPLE_FIELDS} | {
        p.get(role) for p in pairings_of_leaver + active_pairings_of_cohort for role in ("mentor_id", "mentee_id")}
    cohorts = {data.get("cohort_id")} | {p.get("cohort_id") for p in pairings_of_leaver}
    admins = {c: cohort_admins(directory, scopes, c) for c in cohorts if c}
    ids |= {a for group in admins.values() for a in group}
    terminated = frozenset(i for i in ids if i and people.person(i).get("status") == TERMINATED)
    channels = frozenset(c for c in cohorts if c and people.prefs(cohort_recipient(c)).chat_webhook_url)
    return Facts(cohort_admins=admins, terminated=terminated, pairings_of_leaver=pairings_of_leaver,
                 cohort_channels=channels, active_pairings_of_cohort=active_pairings_of_cohort,
                 held_meeting_number=held_meeting_number)


class RoutingPolicy(Projection):
    name = "notifications-routing"
    topics = (topics.HRIS_EMPLOYEES, topics.MATCHING, topics.SESSIONS, topics.FEEDBACK)
    collections = ()  # side effects (messages), never replayed by a rebuild

    def __init__(self, *, directory, deliveries, enqueuer: Enqueuer, scopes, held):
        self.directory = directory  # a live (generation-following) reader
        self.deliveries = deliveries
        self.held = held  # adapters.mongo.HeldMeetingOrdinals: each pairing's first held meetings, numbered
        self.enqueuer = enqueuer
        self.scopes = scopes  # programme managers (shared.scopes.ProgrammeScopeReader, live)

    def handlers(self):
        return {event_type: self.route_event for event_type in ROUTED}

    def reset(self) -> None:
        """Nothing to drop: deliveries, the inbox and preferences are not derived state (dropping
        them would resend history)."""

    def route_event(self, envelope: Envelope) -> None:
        """Route a source event to its recipients once, however often it is replayed.

        The mark is written after enqueueing: a crash in between routes the event again, and the
        deterministic delivery ids keep that from enqueueing (or sending) anything twice.
        """
        if self.deliveries.was_routed(envelope.event_id):
            return
        people = self.enqueuer.people()
        leavers_pairings = self._pairings_of_leaver(envelope) if envelope.event_type == EMPLOYEE_TERMINATED else ()
        closing = ()
        if envelope.event_type == COHORT_STATUS_CHANGED and envelope.data.get("status") == "closed":
            closing = self._active_pairings_of(envelope.data["cohort_id"])
        number = self._held_meeting_number(envelope.data) if envelope.event_type == MEETING_HELD else None
        facts = facts_for(people, self.directory, envelope.data, leavers_pairings, scopes=self.scopes,
                          active_pairings_of_cohort=closing, held_meeting_number=number)
        intents = route(envelope.event_type, envelope.event_id, envelope.data, facts)
        self.enqueuer.notify(intents, Source.of(envelope), people=people)
        self.deliveries.mark_routed(envelope.event_id)

    def _held_meeting_number(self, data: dict) -> int | None:
        """The meeting's place among its pairing's held meetings (up to the one that prompts thanks).

        The first time a pairing's meeting is numbered, the meetings this service's view already
        shows held are numbered before it (in the order they were planned): pairings that met
        before numbering existed (an upgrade) are not prompted at a "fifth" meeting that is not.
        """
        pairing_id, meeting_id = data["pairing_id"], data["meeting_id"]
        if not self.held.numbered_any(pairing_id):
            earlier = sorted((m for m in self.directory.meetings_of_pairing(pairing_id)
                              if m.get("status") == "held" and m["_id"] != meeting_id),
                             key=lambda m: (m.get("starts_at") or "", m["_id"]))
            for meeting in earlier:
                self.held.number(pairing_id, meeting["_id"], bound=GRATITUDE_MEETING)
        return self.held.number(pairing_id, meeting_id, bound=GRATITUDE_MEETING)

    def _active_pairings_of(self, cohort_id: str) -> tuple:
        """A closing cohort's active pairings (a scan of this service's pairings view: once per cohort).
        Completed ones too: matching completes them right after the closing, and their
        PairingCompleted (another partition) may reach the view before this closing is routed."""
        return tuple({k: p.get(k) for k in ("pairing_id", "cohort_id", "mentor_id", "mentee_id")}
                     for p in self.directory.pairings_of_cohort(cohort_id) if p.get("status") in ("active", "completed"))

    def _pairings_of_leaver(self, envelope: Envelope) -> tuple:
        """The leaver's open pairings that existed before the termination (and those matching has
        already ended for it: the notice goes out once, whichever event comes first)."""
        leaver, left_at = envelope.data["employee_id"], parse_rfc3339(envelope.occurred_at)
        return tuple(
            {k: p.get(k) for k in ("pairing_id", "cohort_id", "mentor_id", "mentee_id")}
            for p in self.directory.pairings_of(leaver)
            if (p.get("status") in OPEN_PAIRING_STATUSES
                or (p.get("status") == "ended" and p.get("reason") == PARTICIPANT_LEFT_REASON))
            and (not p.get("proposed_at") or parse_rfc3339(p["proposed_at"]) <= left_at)
        )


class Reminders:
    """The 24-hours-before reminder: `send_due()` runs as a PeriodicJob (and in tests, by hand)."""

    def __init__(self, *, directory, reminded, enqueuer: Enqueuer, clock, lead: timedelta = timedelta(hours=24)):
        self.directory = directory
        self.reminded = reminded
        self.enqueuer = enqueuer
        self.clock = clock
        self.lead = lead

    def send_due(self) -> int:
        now = self.clock.now()
        sent = 0
        for meeting in self.directory.meetings_starting(now, now + self.lead):
            starts_at = meeting["starts_at"]
            start = parse_rfc3339(starts_at)
            # Only meetings scheduled with more than the lead time get a reminder (else the
            # invitation itself is the reminder), and only before they start.
            if not (start - self.lead <= now < start) or parse_rfc3339(meeting["scheduled_at"]) > start - self.lead:
                continue
            if self.reminded.was_reminded(meeting["meeting_id"], starts_at):
                continue
            people = self.enqueuer.people()
            intents = reminder_intents(meeting, facts_for(people, self.directory, meeting))
            source = Source(meeting["scheduled_event_id"], meeting["scheduled_event_type"], meeting["scheduled_at"],
                            meeting["version"], meeting.get("correlation_id") or meeting["scheduled_event_id"])
            self.enqueuer.notify(intents, source, check_age=False, people=people)
            self.reminded.mark(meeting["meeting_id"], starts_at)
            sent += 1
        return sent
