"""The notifications consumer: keeps a small directory from events and turns events into messages.

Directory (people from the HRIS, cohort admins, pairings, meetings) is this service's own copy
built from events: services never read each other's databases. Each handler updates the
directory idempotently (HRIS: newest record wins; pairings and meetings: highest aggregate
version wins), routes the event (domain.routing) and hands the intents to the Notifier, whose
delivery records make a redelivered or replayed event send nothing again.

`reset()` (rebuild) drops only the directory. Deliveries, the inbox and preferences are not
derived state: dropping them would resend history, so a rebuild keeps them.
"""
from __future__ import annotations

from datetime import timedelta

from shared import topics
from shared.clock import parse_rfc3339
from shared.consumer import Projection
from shared.events.envelope import Envelope
from services.notifications.adapters.mongo import stamp_of
from services.notifications.application.delivery import Notifier, Source
from services.notifications.domain.routing import Facts, cohort_recipient, reminder_intents, route

PAIRING_STATUS = {
    "PairingProposed": "proposed", "PairingAccepted": "proposed", "PairingActivated": "active",
    "PairingDeclined": "declined", "PairingExpired": "expired", "PairingEnded": "ended",
}
MEETING_STATUS = {
    "MeetingScheduled": "scheduled", "MeetingRescheduled": "scheduled", "MeetingCancelled": "cancelled",
    "MeetingHeld": "held", "MeetingNoShow": "held",
}
ROUTED = (
    "PairingProposed", "PairingActivated", "PairingDeclined", "PairingExpired", "PairingEnded",
    "MeetingScheduled", "MeetingRescheduled", "MeetingHeld", "GoalsRevised", "PairingAtRisk",
    "ReviewRequested", "KudosSent",
)
PEOPLE_FIELDS = ("employee_id", "mentor_id", "mentee_id", "to_id", "from_id")


class NotificationsProjection(Projection):
    name = "notifications"
    topics = (topics.HRIS_EMPLOYEES, topics.MATCHING, topics.SESSIONS, topics.FEEDBACK)

    def __init__(self, directory, notifier: Notifier):
        self.directory = directory
        self.notifier = notifier

    def handlers(self):
        handlers = {
            "EmployeeUpserted": self.employee_upserted,
            "EmployeeTerminated": self.employee_terminated,
            "CohortCreated": self.cohort_created,
            "PairingAccepted": self.pairing_event,
            "MeetingCancelled": self.meeting_event,
            "MeetingNoShow": self.meeting_event,
        }
        for event_type in ROUTED:
            handlers[event_type] = self.routed_event
        return handlers

    def reset(self) -> None:
        self.directory.drop()

    # -- directory -----------------------------------------------------------------------------

    batchable = frozenset({"EmployeeUpserted"})

    @staticmethod
    def _person(doc: dict, data: dict, stamp) -> dict:
        doc.update(email=data.get("email"), display_name=data.get("display_name"), timezone=data.get("timezone"),
                   languages=data.get("languages") or [], status="active", stamp=stamp)
        return doc

    def apply_batch(self, envelopes: list[Envelope]) -> None:
        """A run of upserts (the org load): people seen for the first time are inserted in one round
        trip with their newest record; people already known take the records one by one."""
        newest: dict = {}
        for envelope in envelopes:
            employee_id, stamp = envelope.data["employee_id"], stamp_of(envelope.occurred_at, envelope.event_id)
            if employee_id not in newest or stamp > newest[employee_id][0]:
                newest[employee_id] = (stamp, envelope)
        existing = self.directory.insert_new_people(
            [self._person({"_id": employee_id}, envelope.data, stamp) for employee_id, (stamp, envelope) in newest.items()])
        for envelope in envelopes:
            if envelope.data["employee_id"] in existing:
                self.employee_upserted(envelope)

    def employee_upserted(self, envelope: Envelope) -> None:
        data = envelope.data
        stamp = stamp_of(envelope.occurred_at, envelope.event_id)
        doc = self.directory.person(data["employee_id"]) or {"_id": data["employee_id"]}
        if doc.get("stamp") is not None and stamp <= doc["stamp"]:
            return
        self.directory.put_person(self._person(doc, data, stamp))

    def employee_terminated(self, envelope: Envelope) -> None:
        leaver = envelope.data["employee_id"]
        stamp = stamp_of(envelope.occurred_at, envelope.event_id)
        doc = self.directory.person(leaver) or {"_id": leaver}
        # Notify before saving the status: a crash in between re-runs the (idempotent) notices.
        pairings = tuple(
            {k: p.get(k) for k in ("pairing_id", "cohort_id", "mentor_id", "mentee_id")}
            for p in self.directory.pairings_of(leaver)
            if p.get("status") in ("proposed", "active")
            or (p.get("status") == "ended" and p.get("reason") == "participant_left")
        )
        self._route_once(envelope, lambda: route("EmployeeTerminated", envelope.event_id, envelope.data,
                                                 self._facts(envelope.data, pairings)))
        if doc.get("stamp") is None or stamp > doc["stamp"]:
            doc.update(status="terminated", stamp=stamp)
            self.directory.put_person(doc)

    def cohort_created(self, envelope: Envelope) -> None:
        self.directory.put_cohort_admin(envelope.data["cohort_id"], envelope.data["created_by"])

    def pairing_event(self, envelope: Envelope) -> None:
        data = envelope.data
        doc = self.directory.pairing(data["pairing_id"]) or {"_id": data["pairing_id"], "version": 0}
        if envelope.aggregate_version <= doc.get("version", 0):
            return
        doc.update(pairing_id=data["pairing_id"], cohort_id=data["cohort_id"], mentor_id=data["mentor_id"],
                   mentee_id=data["mentee_id"], status=PAIRING_STATUS[envelope.event_type],
                   reason=data.get("reason"), version=envelope.aggregate_version)
        self.directory.put_pairing(doc)

    def meeting_event(self, envelope: Envelope) -> None:
        data = envelope.data
        doc = self.directory.meeting(data["meeting_id"]) or {"_id": data["meeting_id"], "version": 0}
        if envelope.aggregate_version <= doc.get("version", 0):
            return
        doc.update(meeting_id=data["meeting_id"], pairing_id=data["pairing_id"], cohort_id=data["cohort_id"],
                   mentor_id=data["mentor_id"], mentee_id=data["mentee_id"],
                   status=MEETING_STATUS[envelope.event_type], version=envelope.aggregate_version)
        if envelope.event_type in ("MeetingScheduled", "MeetingRescheduled"):
            doc.update(starts_at=data["starts_at"], duration_minutes=data["duration_minutes"],
                       timezone=data.get("timezone"), organizer_id=data.get("organizer_id"),
                       scheduled_event_id=envelope.event_id, scheduled_event_type=envelope.event_type,
                       scheduled_at=envelope.occurred_at, correlation_id=envelope.correlation_id)
        self.directory.put_meeting(doc)

    # -- routing -------------------------------------------------------------------------------

    def _facts(self, data: dict, pairings_of_leaver: tuple = ()) -> Facts:
        ids = {data.get(name) for name in PEOPLE_FIELDS} | {
            p.get(role) for p in pairings_of_leaver for role in ("mentor_id", "mentee_id")}
        cohorts = {data.get("cohort_id")} | {p.get("cohort_id") for p in pairings_of_leaver}
        admins = {c: self.directory.admins_of(c) for c in cohorts if c}
        ids |= {a for group in admins.values() for a in group}
        terminated = frozenset(
            i for i in ids if i and (self.directory.person(i) or {}).get("status") == "terminated"
        )
        channels = frozenset(
            c for c in cohorts
            if c and (self.notifier.preferences.get(cohort_recipient(c)) or {}).get("chat_webhook_url")
        )
        return Facts(cohort_admins=admins, terminated=terminated, pairings_of_leaver=pairings_of_leaver,
                     cohort_channels=channels)

    def routed_event(self, envelope: Envelope) -> None:
        if envelope.event_type in PAIRING_STATUS:
            self.pairing_event(envelope)
        elif envelope.event_type in MEETING_STATUS:
            self.meeting_event(envelope)
        self._route_once(envelope, lambda: route(envelope.event_type, envelope.event_id, envelope.data,
                                                 self._facts(envelope.data)))

    def _route_once(self, envelope: Envelope, intents) -> None:
        """Route a source event to its recipients once, however often it is replayed.

        The mark is written after delivering: a crash in between routes the event again, and the
        per-delivery records (same dedupe keys) keep that from sending anything twice.
        """
        deliveries = self.notifier.deliveries
        if deliveries.was_routed(envelope.event_id):
            return
        self.notifier.notify(intents(), Source.of(envelope))
        deliveries.mark_routed(envelope.event_id)


class Reminders:
    """The 24-hours-before reminder: `send_due()` runs as a PeriodicJob (and in tests, by hand)."""

    def __init__(self, directory, notifier: Notifier, projection: NotificationsProjection, clock,
                 lead: timedelta = timedelta(hours=24)):
        self.directory = directory
        self.notifier = notifier
        self.projection = projection
        self.clock = clock
        self.lead = lead

    def send_due(self) -> int:
        now = self.clock.now()
        sent = 0
        for meeting in self.directory.scheduled_meetings():
            starts_at = meeting.get("starts_at")
            if not starts_at or meeting.get("reminded_for") == starts_at:
                continue
            start = parse_rfc3339(starts_at)
            # Only meetings scheduled with more than the lead time get a reminder (else the
            # invitation itself is the reminder), and only before they start.
            if not (start - self.lead <= now < start) or parse_rfc3339(meeting["scheduled_at"]) > start - self.lead:
                continue
            intents = reminder_intents(meeting, self.projection._facts(meeting))
            source = Source(meeting["scheduled_event_id"], meeting["scheduled_event_type"], meeting["scheduled_at"],
                            meeting["version"], meeting.get("correlation_id") or meeting["scheduled_event_id"])
            self.notifier.notify(intents, source, check_age=False)
            self.directory.mark_reminded(meeting["meeting_id"], starts_at)
            sent += 1
        return sent
