"""Read models the notifications service keeps from other services' events (Kafka-fed, rebuildable).

- People: `shared.directory.DirectoryProjection` (newest HRIS record wins) over `people`, with
  the fields messages need (email, name, time zone, languages).
- `NotificationsViews`: cohort admins (`CohortCreated.created_by`), pairings (parties, status,
  when proposed) and meetings (time, status, the event that scheduled it, for reminders). Each
  document keeps the highest aggregate version applied, so a redelivered or older event changes
  nothing.

Neither sends anything: routing is the policy's (`application/policies.py`), and a rebuild of
these views (into shadow collections, shared.generations) never notifies anyone.
"""
from __future__ import annotations

from shared import topics
from shared.consumer import Projection
from shared.directory import DirectoryProjection
from shared.events.catalog.matching import COHORT_CREATED, PAIRING_PROPOSED, PAIRING_STATUS_BY_EVENT
from shared.events.catalog.sessions import (
    MEETING_CANCELLED, MEETING_EVENTS, MEETING_HELD, MEETING_NO_SHOW, MEETING_RESCHEDULED, MEETING_SCHEDULED,
)
from shared.events.envelope import Envelope
from services.notifications.adapters.mongo import COHORTS, MEETINGS, PAIRINGS, PEOPLE, Directory

PEOPLE_FIELDS = ("email", "display_name", "timezone", "languages")
MEETING_STATUS_BY_EVENT = {
    MEETING_SCHEDULED: "scheduled", MEETING_RESCHEDULED: "scheduled", MEETING_CANCELLED: "cancelled",
    MEETING_HELD: "held", MEETING_NO_SHOW: "held",
}


def people_projection(database) -> DirectoryProjection:
    return DirectoryProjection(database, name="notifications-people", fields=PEOPLE_FIELDS, collection=PEOPLE)


class NotificationsViews(Projection):
    name = "notifications-views"
    topics = (topics.MATCHING, topics.SESSIONS)
    collections = (COHORTS, PAIRINGS, MEETINGS)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.database = database
        self.directory = Directory(database)

    def handlers(self):
        handlers = {COHORT_CREATED: self.cohort_created}
        handlers.update({event_type: self.pairing_event for event_type in PAIRING_STATUS_BY_EVENT})
        handlers.update({event_type: self.meeting_event for event_type in MEETING_EVENTS})
        return handlers

    def reset(self) -> None:
        self.directory.drop_views()

    def cohort_created(self, envelope: Envelope) -> None:
        self.directory.put_cohort_admin(envelope.data["cohort_id"], envelope.data["created_by"])

    def pairing_event(self, envelope: Envelope) -> None:
        data = envelope.data
        doc = self.directory.pairing(data["pairing_id"]) or {"_id": data["pairing_id"], "version": 0}
        if envelope.aggregate_version <= doc.get("version", 0):
            return
        status = PAIRING_STATUS_BY_EVENT[envelope.event_type] or doc.get("status", "proposed")
        doc.update(pairing_id=data["pairing_id"], cohort_id=data["cohort_id"], mentor_id=data["mentor_id"],
                   mentee_id=data["mentee_id"], status=status, reason=data.get("reason"),
                   version=envelope.aggregate_version)
        if envelope.event_type == PAIRING_PROPOSED or "proposed_at" not in doc:
            doc["proposed_at"] = envelope.occurred_at
        self.directory.put_pairing(doc)

    def meeting_event(self, envelope: Envelope) -> None:
        data = envelope.data
        doc = self.directory.meeting(data["meeting_id"]) or {"_id": data["meeting_id"], "version": 0}
        if envelope.aggregate_version <= doc.get("version", 0):
            return
        doc.update(meeting_id=data["meeting_id"], pairing_id=data["pairing_id"], cohort_id=data["cohort_id"],
                   mentor_id=data["mentor_id"], mentee_id=data["mentee_id"],
                   status=MEETING_STATUS_BY_EVENT[envelope.event_type], version=envelope.aggregate_version)
        if envelope.event_type in (MEETING_SCHEDULED, MEETING_RESCHEDULED):
            doc.update(starts_at=data["starts_at"], duration_minutes=data["duration_minutes"],
                       timezone=data.get("timezone"), organizer_id=data.get("organizer_id"),
                       scheduled_event_id=envelope.event_id, scheduled_event_type=envelope.event_type,
                       scheduled_at=envelope.occurred_at, correlation_id=envelope.correlation_id)
        self.directory.put_meeting(doc)
