"""Read models the notifications service keeps from other services' events (Kafka-fed, rebuildable).

- People: `shared.directory.DirectoryProjection` (newest HRIS record wins) over `people`, with
  the fields messages need (email, name, time zone, languages).
- `NotificationsViews`: cohort admins (`CohortCreated.created_by`), pairings (parties, status,
  when proposed) and meetings (time, status, the event that scheduled it, for reminders). Each
  document keeps the highest aggregate version applied, so a redelivered or older event changes
  nothing.

Neither sends anything: routing is the policy's (`application/policies.py`), and a rebuild of
these views (into shadow collections, shared.generations) never notifies anyone.

- `InboxIndex` (own-stream, fed from this service's event store): per recipient, their in-app
  notifications newest first with what is read, from `NotificationSent` (channel inapp) and
  `NotificationRead`: the inbox page and its unread count are one `_id` read.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from shared import topics
from shared.clock import parse_rfc3339
from shared.consumer import Projection
from shared.directory import DirectoryProjection
from shared.erasure import ErasedPeople
from shared.events.catalog.matching import COHORT_CREATED, PAIRING_PROPOSED, PAIRING_STATUS_BY_EVENT
from shared.events.catalog.sessions import (
    MEETING_CANCELLED, MEETING_EVENTS, MEETING_HELD, MEETING_NO_SHOW, MEETING_RESCHEDULED, MEETING_SCHEDULED,
)
from shared.events.catalog.notifications import NOTIFICATION_READ, NOTIFICATION_SENT
from shared.events.envelope import Envelope
from shared.projector import order_of
from services.notifications.adapters.mongo import (
    INBOX_INDEX, MEETING_HOURS, PAIRING_MEETINGS, PARTY_PAIRINGS, PEOPLE, VIEWS, Directory,
    InboxIndexRepository,
)

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
    collections = VIEWS
    slot_lists = (PARTY_PAIRINGS, PAIRING_MEETINGS, MEETING_HOURS)  # equal a rebuild's by members (shared.consistency)

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
        stored = self.directory.pairing(data["pairing_id"])
        doc = stored or {"_id": data["pairing_id"], "version": 0}
        if envelope.aggregate_version <= doc.get("version", 0):
            return
        status = PAIRING_STATUS_BY_EVENT[envelope.event_type] or doc.get("status", "proposed")
        doc.update(pairing_id=data["pairing_id"], cohort_id=data["cohort_id"], mentor_id=data["mentor_id"],
                   mentee_id=data["mentee_id"], status=status, reason=data.get("reason"),
                   version=envelope.aggregate_version)
        if envelope.event_type == PAIRING_PROPOSED or "proposed_at" not in doc:
            doc["proposed_at"] = envelope.occurred_at
        if stored is None:
            self.directory.put_party_pairings(doc)
        self.directory.put_pairing(doc)

    def meeting_event(self, envelope: Envelope) -> None:
        data = envelope.data
        stored = self.directory.meeting(data["meeting_id"])
        doc = stored or {"_id": data["meeting_id"], "version": 0}
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
            if data.get("group_meeting_id"):  # a member's copy of a circle's meeting: one reminder for the mentor
                doc.update(group_meeting_id=data["group_meeting_id"], circle_id=data.get("circle_id"))
        moved = envelope.event_type in (MEETING_SCHEDULED, MEETING_RESCHEDULED)
        self.directory.put_meeting_lists(doc, first_seen=stored is None,
                                         starts_at=parse_rfc3339(data["starts_at"]) if moved else None)
        self.directory.put_meeting(doc)


def inbox_moment(occurred_at: str) -> datetime:
    """An event's time as the index keeps it: to the millisecond, as MongoDB stores dates (so a
    cursor made from a stored item finds it again)."""
    moment = parse_rfc3339(occurred_at)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class InboxIndex(Projection):
    """Each recipient's in-app notifications, newest first, and which are read (own-stream view).

    An item is listed once its `NotificationSent` (channel inapp) is stored, i.e. right after the
    sender put it in the inbox; its `at` is that event's time. `NotificationRead` sets `read_at`.
    Applying an event twice changes nothing (items are keyed by notification id); the store order
    of the last event applied is the document's `version`, so a projector that lost its lease cannot
    write over its successor. Items older than the inbox's retention (counted back from the event
    being applied, so a rebuild keeps exactly what the live view keeps) are dropped: their inbox
    documents are gone (application/retention.py).
    """

    name = "notifications-inbox-index"
    topics = ()  # fed from the service's own event store
    collections = (INBOX_INDEX,)

    def __init__(self, database, *, retention_days: float):
        self.retention = timedelta(days=retention_days)
        self.bind(database)

    def bind(self, database) -> None:
        self.index = InboxIndexRepository(database)
        self.erased = ErasedPeople(database)

    def reset(self) -> None:
        self.index.drop()

    def handlers(self):
        return {NOTIFICATION_SENT: self.sent, NOTIFICATION_READ: self.read}

    def sent(self, envelope: Envelope) -> None:
        data = envelope.data
        if data["channel"] != "inapp":
            return
        self._change(envelope, data["recipient_id"], data["notification_id"],
                     lambda item: item or {"id": data["notification_id"], "at": inbox_moment(envelope.occurred_at),
                                           "read_at": None})

    def read(self, envelope: Envelope) -> None:
        data = envelope.data
        self._change(envelope, data["recipient_id"], data["notification_id"],
                     lambda item: item and {**item, "read_at": item["read_at"] or inbox_moment(envelope.occurred_at)})

    def _change(self, envelope: Envelope, recipient_id: str, notification_id: str, change) -> None:
        order = order_of(envelope)
        doc = self.index.get(recipient_id)
        if doc is None and self.erased.is_erased(recipient_id):
            return  # erased (shared.erasure): a rebuild lists nothing of theirs again
        doc = doc or {"_id": recipient_id, "items": [], "version": 0}
        if doc["version"] >= order:
            return  # applied already
        items = {item["id"]: item for item in doc["items"]}
        item = change(items.get(notification_id))
        if item is None or item == items.get(notification_id):
            return
        items[notification_id] = item
        cutoff = inbox_moment(envelope.occurred_at) - self.retention
        kept = sorted((i for i in items.values() if _aware(i["at"]) >= cutoff),
                      key=lambda i: (_aware(i["at"]), i["id"]), reverse=True)
        self.index.put({"_id": recipient_id, "items": kept, "version": order})


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
