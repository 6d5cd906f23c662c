"""MongoDB repositories of the notifications service (its own database).

Hot paths read and write one document by string `_id` (the only look-up FerretDB v1 indexes):
people, cohorts, pairings, meetings, preferences and deliveries. The scans (a person's inbox, a
person's pairings, the due retry queue, an event's delivery log) run on small collections or
rarely, and have secondary indexes for a real mongod.
"""
from __future__ import annotations

import base64
import json
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from shared.clock import parse_rfc3339
from shared.mongo import insert_new

PEOPLE, COHORTS, PAIRINGS, MEETINGS = "people", "cohorts", "pairings", "meetings"
PREFERENCES, DELIVERIES, QUEUE, INBOX = "preferences", "deliveries", "delivery_queue", "inbox"
DIRECTORY = (PEOPLE, COHORTS, PAIRINGS, MEETINGS)


def stamp_of(occurred_at: str, event_id: str) -> list:
    """A sortable identity of an HRIS record's moment: time first, event id to break ties."""
    return [parse_rfc3339(occurred_at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), event_id]


class Directory:
    """What the notifications service knows of people, cohorts, pairings and meetings (from events)."""

    def __init__(self, database):
        self.people = database[PEOPLE]
        self.cohorts = database[COHORTS]
        self.pairings = database[PAIRINGS]
        self.meetings = database[MEETINGS]
        self.database = database

    def ensure_indexes(self) -> None:
        self.pairings.create_index([("mentor_id", ASCENDING)])
        self.pairings.create_index([("mentee_id", ASCENDING)])
        self.meetings.create_index([("status", ASCENDING)])

    def drop(self) -> None:
        for name in DIRECTORY:
            self.database[name].drop()

    # people
    def person(self, employee_id: str) -> dict | None:
        return self.people.find_one({"_id": employee_id})

    def put_person(self, doc: dict) -> None:
        self.people.find_one_and_replace({"_id": doc["_id"]}, doc, upsert=True)

    def insert_new_people(self, docs: list[dict]) -> set[str]:
        """Insert people in one round trip; returns the ids that already existed."""
        return insert_new(self.people, docs)

    # cohorts
    def admins_of(self, cohort_id: str) -> list[str]:
        doc = self.cohorts.find_one({"_id": cohort_id})
        return list(doc.get("admins", [])) if doc else []

    def put_cohort_admin(self, cohort_id: str, admin_id: str) -> None:
        self.cohorts.find_one_and_update({"_id": cohort_id}, {"$addToSet": {"admins": admin_id}}, upsert=True)

    # pairings
    def pairing(self, pairing_id: str) -> dict | None:
        return self.pairings.find_one({"_id": pairing_id})

    def put_pairing(self, doc: dict) -> None:
        self.pairings.find_one_and_replace({"_id": doc["_id"]}, doc, upsert=True)

    def pairings_of(self, employee_id: str) -> list[dict]:
        return list(self.pairings.find({"$or": [{"mentor_id": employee_id}, {"mentee_id": employee_id}]}))

    # meetings
    def meeting(self, meeting_id: str) -> dict | None:
        return self.meetings.find_one({"_id": meeting_id})

    def put_meeting(self, doc: dict) -> None:
        self.meetings.find_one_and_replace({"_id": doc["_id"]}, doc, upsert=True)

    def scheduled_meetings(self) -> list[dict]:
        return list(self.meetings.find({"status": "scheduled"}))

    def mark_reminded(self, meeting_id: str, starts_at: str) -> None:
        self.meetings.find_one_and_update({"_id": meeting_id}, {"$set": {"reminded_for": starts_at}})


class PreferencesRepository:
    def __init__(self, database):
        self.collection = database[PREFERENCES]

    def get(self, employee_id: str) -> dict | None:
        return self.collection.find_one({"_id": employee_id})

    def put(self, employee_id: str, doc: dict) -> dict:
        doc = {**doc, "_id": employee_id}
        self.collection.find_one_and_replace({"_id": employee_id}, doc, upsert=True)
        return doc

    def set_fields(self, employee_id: str, fields: dict) -> None:
        self.collection.find_one_and_update({"_id": employee_id}, {"$set": fields}, upsert=True)


class DeliveriesRepository:
    """One document per (dedupe key, recipient, channel), plus a small queue of what waits."""

    def __init__(self, database):
        self.collection = database[DELIVERIES]
        self.queue = database[QUEUE]
        # Source events already routed: a replay (a new consumer group, a rebuild) must not route
        # them again, even where what the projection knows now would pick other recipients.
        self.routed_events = database["routed_events"]

    def was_routed(self, event_id: str) -> bool:
        return self.routed_events.find_one({"_id": event_id}) is not None

    def mark_routed(self, event_id: str) -> None:
        self.routed_events.find_one_and_update({"_id": event_id}, {"$setOnInsert": {"event_id": event_id}}, upsert=True)

    def ensure_indexes(self) -> None:
        self.collection.create_index([("source_event_id", ASCENDING)])
        self.queue.create_index([("due_at", ASCENDING)])

    def get(self, delivery_id: str) -> dict | None:
        return self.collection.find_one({"_id": delivery_id})

    def create_if_absent(self, doc: dict) -> tuple[dict, bool]:
        """(the stored document, whether this call created it)."""
        before = self.collection.find_one_and_update(
            {"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True, return_document=ReturnDocument.BEFORE
        )
        return (before, False) if before is not None else (doc, True)

    def update(self, delivery_id: str, fields: dict, history: dict | None = None) -> dict:
        change: dict = {"$set": fields}
        if history is not None:
            change["$push"] = {"history": history}
        return self.collection.find_one_and_update({"_id": delivery_id}, change, return_document=ReturnDocument.AFTER)

    def for_event(self, event_id: str) -> list[dict]:
        return sorted(self.collection.find({"source_event_id": event_id}), key=lambda d: d["_id"])

    def enqueue(self, delivery_id: str, kind: str, due_at: datetime, recipient_id: str, channel: str) -> None:
        self.queue.find_one_and_replace(
            {"_id": delivery_id},
            {"_id": delivery_id, "kind": kind, "due_at": due_at, "recipient_id": recipient_id, "channel": channel},
            upsert=True,
        )

    def dequeue(self, delivery_id: str) -> None:
        self.queue.find_one_and_delete({"_id": delivery_id})

    def due(self, now: datetime) -> list[dict]:
        return sorted(self.queue.find({"due_at": {"$lte": now}}), key=lambda d: (d["due_at"], d["_id"]))


def _encode_cursor(doc: dict) -> str:
    raw = json.dumps([doc["created_at"].isoformat(), doc["_id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    padded = cursor + "=" * (-len(cursor) % 4)
    created_at, last_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
    return datetime.fromisoformat(created_at), str(last_id)


class InboxRepository:
    def __init__(self, database):
        self.collection = database[INBOX]

    def ensure_indexes(self) -> None:
        self.collection.create_index([("recipient_id", ASCENDING), ("created_at", DESCENDING)])

    def put(self, message) -> None:
        """Idempotent: the notification id is the document id, and a resend keeps `read_at`."""
        from shared.clock import utcnow

        self.collection.find_one_and_update(
            {"_id": message.notification_id},
            {
                "$set": {"recipient_id": message.recipient_id, "category": message.category,
                         "subject": message.subject, "body": message.text, "link": message.link,
                         **({"data": message.extra} if message.extra else {})},
                "$setOnInsert": {"created_at": utcnow(), "read_at": None},
            },
            upsert=True,
        )

    def page(self, recipient_id: str, *, limit: int, cursor: str | None, unread_only: bool) -> tuple[list, str | None]:
        query: dict = {"recipient_id": recipient_id}
        if unread_only:
            query["read_at"] = None
        if cursor:
            created_at, last_id = decode_cursor(cursor)
            query["$or"] = [{"created_at": {"$lt": created_at}}, {"created_at": created_at, "_id": {"$lt": last_id}}]
        docs = list(self.collection.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit + 1))
        more = len(docs) > limit
        docs = docs[:limit]
        return docs, (_encode_cursor(docs[-1]) if more and docs else None)

    def unread_count(self, recipient_id: str) -> int:
        return self.collection.count_documents({"recipient_id": recipient_id, "read_at": None})

    def get(self, notification_id: str) -> dict | None:
        return self.collection.find_one({"_id": notification_id})

    def mark_read(self, notification_id: str, at: datetime) -> dict:
        doc = self.get(notification_id)
        if doc is not None and doc.get("read_at") is None:
            doc = self.collection.find_one_and_update(
                {"_id": notification_id}, {"$set": {"read_at": at}}, return_document=ReturnDocument.AFTER
            )
        return doc
