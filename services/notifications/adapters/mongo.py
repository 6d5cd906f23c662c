"""MongoDB repositories of the notifications service (its own database).

Hot paths read and write one document by string `_id` (the only look-up FerretDB v1 indexes) or
insert new ones (in bulk where a call has several): people, cohorts, pairings, meetings,
preferences, deliveries, claims, a person's inbox index. The scans (a person's pairings, the sweep of
due queue entries, an event's delivery log) run on small collections or rarely, and have
secondary indexes for a real mongod. No write here depends on a read-modify-write being isolated
(FerretDB's `find_one_and_update` is not): claims and first sightings are unique `_id` inserts,
and every other document has one writer at a time (the claim holder, the consumer partition, or the
store projector: the inbox index).
"""
from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from pymongo import ASCENDING, DESCENDING, DeleteOne, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from shared.clock import parse_rfc3339, utcnow
from shared.directory import DirectoryRepository
from shared.lease import server_now
from shared.mongo import insert_new, replace_if_newer

PEOPLE, COHORTS, PAIRINGS, MEETINGS = "people", "cohorts", "pairings", "meetings"
PREFERENCES, DELIVERIES, QUEUE, CLAIMS, INBOX = "preferences", "deliveries", "delivery_queue", "delivery_claims", "inbox"
ROUTED_EVENTS, REMINDERS_SENT = "routed_events", "reminders_sent"
HELD_ORDINALS = "held_meeting_ordinals"  # `{pairing_id}|{n}` -> the pairing's n-th held meeting (n <= a bound)
INBOX_INDEX = "inbox_index"  # per recipient: their in-app notifications, newest first (own-stream view)
# Keyed lists (SlotList) beside the pairings and meetings, so that no hot path filters on anything but
# `_id` (FerretDB v1 scans every other filter: a leaver's pairings scanned all pairings, and the
# minutely reminders job scanned every meeting ever scheduled):
PARTY_PAIRINGS = "party_pairings"  # `{employee_id}|{n}` -> a pairing naming the person
PAIRING_MEETINGS = "pairing_meetings"  # `{pairing_id}|{n}` -> a meeting of the pairing
MEETING_HOURS = "meeting_hours"  # `{YYYY-MM-DDTHH}|{n}` -> a meeting scheduled to start in that UTC hour
VIEWS = (COHORTS, PAIRINGS, MEETINGS, PARTY_PAIRINGS, PAIRING_MEETINGS, MEETING_HOURS)  # the directory projection's
# (people: shared.directory)
SLOT_READERS = 8  # a long list's slots are read by `_id` on this many connections at once


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def hour_key(moment: datetime) -> str:
    return _aware(moment).astimezone(timezone.utc).strftime("%Y-%m-%dT%H")


class SlotList:
    """Append-only lists that several consumers extend at once: list `key`'s members are in numbered
    slots `{key}|1`, `{key}|2`, ..., each claimed by a unique `_id` insert (the first insert wins on
    mongod and FerretDB alike; FerretDB's updates are not isolated, so no list is a document that
    writers read, change and write back). A list is read by `_id` look-ups, slot after slot, until
    the first free one; members are never removed (a reader checks each member's own document).

    `add(..., once=True)` walks the list first and adds nothing if the member is there (a
    redelivered event); `once=False` adds without looking (readers drop repeats): one insert,
    starting from the slot after the last one this process claimed in the list. `member_field`
    names the member in a slot's document."""

    def __init__(self, collection, *, member_field: str = "member"):
        self.collection = collection
        self.member_field = member_field
        self._next: dict[str, int] = {}  # key -> the slot after the last one this process claimed
        self._lock = threading.Lock()

    def add(self, key: str, member: str, *, once: bool = True, bound: int | None = None) -> int | None:
        """The member's slot number (claiming the first free one); None when slots 1..`bound` are
        taken by others."""
        with self._lock:
            n = 1 if once else self._next.get(key, 1)
        while bound is None or n <= bound:
            slot = f"{key}|{n}"
            doc = self.collection.find_one({"_id": slot}) if once else None
            if doc is None:
                try:
                    self.collection.insert_one({"_id": slot, self.member_field: member})
                    with self._lock:
                        self._next[key] = max(self._next.get(key, 1), n + 1)
                    return n
                except DuplicateKeyError:
                    doc = self.collection.find_one({"_id": slot}) if once else None  # another writer took it
            if doc is not None and doc[self.member_field] == member:
                return n
            n += 1
        return None

    def forget(self) -> None:
        """After the lists were dropped: claim from slot 1 again (a slot past a free one is never read)."""
        with self._lock:
            self._next.clear()

    def members(self, key: str, *, window: int = 1) -> list[str]:
        """The list's members in slot order, each once; `window` slots read side by side at a time."""
        def read(slot: str) -> dict | None:
            return self.collection.find_one({"_id": slot})

        found: list[str] = []
        n = 1
        # one pool for the whole walk (none for a window of one: a person's or a pairing's short list)
        with ThreadPoolExecutor(window) if window > 1 else contextlib.nullcontext() as pool:
            while True:
                slots = [f"{key}|{k}" for k in range(n, n + window)]
                for doc in (pool.map(read, slots) if pool is not None else map(read, slots)):
                    if doc is None:
                        return list(dict.fromkeys(found))
                    found.append(doc[self.member_field])
                n += window


class Directory:
    """What the notifications service knows of people, cohorts, pairings and meetings (from events).

    `database` is any handle whose `[name]` gives a collection: a projection's generation-bound
    one when writing, `shared.generations.live_database(...)` when reading.
    """

    def __init__(self, database):
        self.people = DirectoryRepository(database, PEOPLE)
        self.cohorts = database[COHORTS]
        self.pairings = database[PAIRINGS]
        self.meetings = database[MEETINGS]
        self.party_pairings = SlotList(database[PARTY_PAIRINGS])
        self.pairing_meetings = SlotList(database[PAIRING_MEETINGS])
        self.meeting_hours = SlotList(database[MEETING_HOURS])
        self.database = database

    def ensure_indexes(self) -> None:
        self.pairings.create_index([("mentor_id", ASCENDING)])
        self.pairings.create_index([("mentee_id", ASCENDING)])
        self.meetings.create_index([("status", ASCENDING)])
        self.meetings.create_index([("pairing_id", ASCENDING)])

    def drop_views(self) -> None:
        for name in VIEWS:
            self.database[name].drop()
        for slots in (self.party_pairings, self.pairing_meetings, self.meeting_hours):
            slots.forget()

    # people (written by shared.directory.DirectoryProjection)
    def person(self, employee_id: str | None) -> dict | None:
        return self.people.get(employee_id) if employee_id else None

    # cohorts
    def admins_of(self, cohort_id: str) -> list[str]:
        doc = self.cohorts.find_one({"_id": cohort_id})
        return list(doc.get("admins", [])) if doc else []

    def put_cohort_admin(self, cohort_id: str, admin_id: str) -> None:
        # One consumer partition writes a cohort's events, so this read-then-write has no rival.
        doc = self.cohorts.find_one({"_id": cohort_id}) or {"_id": cohort_id, "admins": []}
        if admin_id not in doc["admins"]:
            doc["admins"].append(admin_id)
            self.cohorts.find_one_and_replace({"_id": cohort_id}, doc, upsert=True)

    # pairings
    def pairing(self, pairing_id: str) -> dict | None:
        return self.pairings.find_one({"_id": pairing_id})

    def put_pairing(self, doc: dict) -> bool:
        return replace_if_newer(self.pairings, doc)

    def pairings_of_cohort(self, cohort_id: str) -> list[dict]:
        """A scan on FerretDB (rare: once per cohort, when it closes)."""
        return list(self.pairings.find({"cohort_id": cohort_id}))

    def put_party_pairings(self, doc: dict) -> None:
        """A pairing seen for the first time, in its parties' lists (before the pairing is written: a
        crash in between adds it again on the replay, which finds it listed)."""
        for party in (doc["mentor_id"], doc["mentee_id"]):
            self.party_pairings.add(party, doc["_id"])

    def pairings_of(self, employee_id: str) -> list[dict]:
        """The pairings naming the person: their list, then each pairing by `_id`."""
        found = (self.pairing(pairing_id) for pairing_id in self.party_pairings.members(employee_id))
        return [doc for doc in found if doc is not None]

    # meetings
    def meeting(self, meeting_id: str) -> dict | None:
        return self.meetings.find_one({"_id": meeting_id})

    def put_meeting(self, doc: dict) -> bool:
        return replace_if_newer(self.meetings, doc)

    def put_meeting_lists(self, doc: dict, *, first_seen: bool, starts_at: datetime | None) -> None:
        """A meeting in its pairing's list (when first seen) and in the list of the hour it starts in
        (when scheduled or moved), before the meeting is written (a replay adds it again: the pairing's
        list finds it, the hour's holds it twice, which readers drop)."""
        if first_seen:
            self.pairing_meetings.add(doc["pairing_id"], doc["_id"])
        if starts_at is not None:
            self.meeting_hours.add(hour_key(starts_at), doc["_id"], once=False)

    def meetings_of_pairing(self, pairing_id: str) -> list[dict]:
        found = (self.meeting(meeting_id) for meeting_id in self.pairing_meetings.members(pairing_id))
        return [doc for doc in found if doc is not None]

    def meetings_of(self, employee_id: str) -> list[dict]:
        """A scan (rare: the subject access export)."""
        return list(self.meetings.find({"$or": [{"mentor_id": employee_id}, {"mentee_id": employee_id}]}))

    def cohorts_administered_by(self, employee_id: str) -> list[dict]:
        return list(self.cohorts.find({"admins": employee_id}))

    def meetings_starting(self, after: datetime, until: datetime) -> list[dict]:
        """Scheduled meetings starting in (`after`, `until`]: the lists of the hours in between, then
        each meeting by `_id` (side by side), as it is now (a moved or cancelled one is left out)."""
        hour = _aware(after).astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
        ids: list[str] = []
        while hour <= until:
            ids += self.meeting_hours.members(hour_key(hour), window=SLOT_READERS)
            hour += timedelta(hours=1)
        with ThreadPoolExecutor(SLOT_READERS) as pool:
            docs = list(pool.map(self.meeting, dict.fromkeys(ids)))
        return [doc for doc in docs if doc is not None and doc.get("status") == "scheduled" and doc.get("starts_at")
                and after < parse_rfc3339(doc["starts_at"]) <= until]


class RemindersSent:
    """Which meeting starts were reminded of (a job's own record, not a projection's)."""

    def __init__(self, database):
        self.collection = database[REMINDERS_SENT]

    @staticmethod
    def key(meeting_id: str, starts_at: str) -> str:
        return f"{meeting_id}|{starts_at}"

    def was_reminded(self, meeting_id: str, starts_at: str) -> bool:
        return self.collection.find_one({"_id": self.key(meeting_id, starts_at)}) is not None

    def mark(self, meeting_id: str, starts_at: str) -> None:
        try:
            self.collection.insert_one({"_id": self.key(meeting_id, starts_at), "at": utcnow()})
        except DuplicateKeyError:
            pass


class HeldMeetingOrdinals:
    """Which held meeting of a pairing was its 1st, 2nd, ... up to a bound (the routing policy's
    own record, not a projection's: never rebuilt, never dropped).

    Why numbered slots claimed by unique inserts, not a counter: the MeetingHeld events of one
    pairing's meetings are keyed by meeting, so they arrive on different partitions, handled by
    different consumers at the same time; a `$inc` (or read-then-write) counter loses updates on
    FerretDB v1, and counting a pairing's documents from two consumers at once can make both, or
    neither, see "five". Slot `{pairing_id}|{n}` names exactly one meeting (the first insert wins,
    DuplicateKeyError decides); every claimant walks the slots in the same order by `_id` reads, so
    each meeting gets one number however its events are redelivered or raced, and a replay finds
    its own number again. Only the first `bound` slots exist: a later meeting claims nothing.
    """

    def __init__(self, database):
        self.slots = SlotList(database[HELD_ORDINALS], member_field="meeting_id")

    def number(self, pairing_id: str, meeting_id: str, *, bound: int) -> int | None:
        """The meeting's place among the pairing's held meetings, claiming the first free slot;
        None when the first `bound` slots hold other meetings."""
        return self.slots.add(pairing_id, meeting_id, bound=bound)

    def numbered_any(self, pairing_id: str) -> bool:
        return self.slots.collection.find_one({"_id": f"{pairing_id}|1"}) is not None


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
    """Deliveries, the queue of what waits, the claims on attempts, and which events were routed.

    - `deliveries`: one document per delivery (`_id` = delivery id), inserted once by the consumer
      (a duplicate insert means "already enqueued"), then written only by a claim holder.
    - `delivery_queue`: one entry per delivery that is not final (`_id` = delivery id, `due_at`),
      deleted once the delivery is final and its outcome recorded. Small by construction.
    - `delivery_claims`: `_id` = "<delivery id>|attempt<n>"; inserting it claims attempt n. Claims
      are kept (a deleted claim could be won again by a sender holding a stale copy), one small
      document per attempt; those older than the delivery log's retention go with it (`purge_before`).
      The same collection holds sent marks, `"<delivery id>|attempt<n>|sent"`: inserted the moment a
      channel accepted attempt n, before the batch's bookkeeping (application/delivery.py).
    """

    # FerretDB v1 stalls on an update command with more than a few dozen statements: bulk
    # writes go in chunks of this many (one round trip each).
    BULK_CHUNK = 25

    def __init__(self, database):
        self.collection = database[DELIVERIES]
        self.queue = database[QUEUE]
        self.claims = database[CLAIMS]
        # Source events already routed: a replay (a new consumer group, a rebuild) must not route
        # them again, even where what the projection knows now would pick other recipients.
        self.routed_events = database[ROUTED_EVENTS]

    def ensure_indexes(self) -> None:
        self.collection.create_index([("source_event_id", ASCENDING)])
        self.queue.create_index([("due_at", ASCENDING)])

    # routing marks
    def was_routed(self, event_id: str) -> bool:
        return self.routed_events.find_one({"_id": event_id}) is not None

    def mark_routed(self, event_id: str) -> None:
        try:
            self.routed_events.insert_one({"_id": event_id, "at": utcnow()})
        except DuplicateKeyError:
            pass

    # deliveries
    def get(self, delivery_id: str) -> dict | None:
        return self.collection.find_one({"_id": delivery_id})

    def insert_new(self, docs: list[dict]) -> set[str]:
        """Insert deliveries in one round trip; returns the ids that already existed."""
        return insert_new(self.collection, docs)

    def record(self, delivery_id: str, fields: dict, history: dict | None = None) -> None:
        """The claim holder's write (no one else writes a delivery while it holds the claim)."""
        change: dict = {"$set": fields}
        if history is not None:
            change["$push"] = {"history": history}
        self.collection.update_one({"_id": delivery_id}, change)

    def record_many(self, changes: list[tuple[str, dict, dict | None]]) -> None:
        """`record` for several deliveries, `(delivery_id, fields, history)` each, in bulk writes."""
        writes = []
        for delivery_id, fields, history in changes:
            change: dict = {"$set": fields}
            if history is not None:
                change["$push"] = {"history": history}
            writes.append(UpdateOne({"_id": delivery_id}, change))
        self._bulk(self.collection, writes)

    def _bulk(self, collection, writes: list) -> None:
        for start in range(0, len(writes), self.BULK_CHUNK):
            collection.bulk_write(writes[start:start + self.BULK_CHUNK], ordered=False)

    def for_event(self, event_id: str) -> list[dict]:
        return sorted(self.collection.find({"source_event_id": event_id}), key=lambda d: d["_id"])

    # the queue
    def enqueue_new(self, entries: list[dict]) -> None:
        """Queue entries (`_id`, `due_at`, ...) in one round trip; existing ones stay as they are."""
        insert_new(self.queue, entries)

    def reschedule(self, delivery_id: str, due_at: datetime) -> None:
        self.queue.find_one_and_replace({"_id": delivery_id}, {"_id": delivery_id, "due_at": due_at}, upsert=True)

    def dequeue(self, delivery_id: str) -> None:
        self.queue.delete_one({"_id": delivery_id})

    def dequeue_many(self, delivery_ids: list[str]) -> None:
        """Queue entries by `_id` (an index look-up each; `$in` would scan on FerretDB)."""
        self._bulk(self.queue, [DeleteOne({"_id": delivery_id}) for delivery_id in delivery_ids])

    def due(self, now: datetime, limit: int) -> list[dict]:
        """Queue entries due at `now`, oldest first (a scan of the small queue on FerretDB)."""
        entries = [e for e in self.queue.find({"due_at": {"$lte": now}}).limit(limit)]
        return sorted(entries, key=lambda e: (_aware(e["due_at"]), e["_id"]))

    def of_recipient(self, recipient_id: str) -> list[dict]:
        """The person's delivery log (a scan: the subject access export is rare)."""
        return list(self.collection.find({"recipient_id": recipient_id}))

    def queued(self, delivery_ids: list[str]) -> list[dict]:
        """Queue entries of these deliveries, read by `_id` (FerretDB indexes no `$in`)."""
        return [entry for entry in (self.queue.find_one({"_id": key}) for key in delivery_ids) if entry]

    def claims_of(self, delivery: dict) -> list[dict]:
        """A delivery's claim documents, read by `_id`: claims are numbered 1, 2, ... with no gap up
        to the last recorded one (`claim`), and at most a few in flight or abandoned after it."""
        found, number, recorded = [], 1, int(delivery.get("claim") or 0)
        while number <= recorded + 16:
            claim = self.claims.find_one({"_id": f"{delivery['_id']}|attempt{number}"})
            if claim is None and number > recorded:
                break
            if claim is not None:
                found.append(claim)
            number += 1
        return found

    def backlog(self) -> int:
        return self.queue.count_documents({})

    # claims
    def insert_claims(self, claims: list[dict]) -> set[str]:
        """Insert claim documents in one round trip; returns the claim ids someone else already holds."""
        return insert_new(self.claims, claims)

    def claim(self, claim_id: str) -> dict | None:
        return self.claims.find_one({"_id": claim_id})

    def mark_sent(self, marks: list[dict]) -> None:
        """Sent marks (`_id` = `sent_mark_id`, `delivery_id`, `claimed_at` for retention), one insert;
        one already there stays (a digest's or a retried write's)."""
        insert_new(self.claims, marks)

    # retention (application/retention.py)
    def purge_before(self, cutoff: datetime) -> tuple[int, int]:
        """Delete the delivery log and the claims older than `cutoff`; returns (deliveries, claims).

        Why scans: `created_at` / `claimed_at` filters read the whole collection on FerretDB (only
        `_id` filters use an index there); the job runs hourly, so that is acceptable. Anything still
        queued is kept: a claim may be deleted only when no sender can still act on its delivery
        (a stale sender could win a deleted claim again), and nothing stays queued for long (max
        attempts, max event age) compared with a retention of days.
        """
        queued = [entry["_id"] for entry in self.queue.find({}, {"_id": 1})]
        deliveries = self.collection.delete_many({"created_at": {"$lt": cutoff}, "_id": {"$nin": queued}})
        claims = self.claims.delete_many({"claimed_at": {"$lt": cutoff}, "delivery_id": {"$nin": queued}})
        return deliveries.deleted_count, claims.deleted_count


class ServerClock:
    """The database server's clock, which every replica judges claim expiry by.

    Local clocks of two hosts can disagree; the server's is one clock. Reading it costs a round
    trip (`hello.localTime`), so the offset to the local clock is measured every `refresh_s`
    and applied in between (error: one round trip plus drift over `refresh_s`).
    """

    def __init__(self, database, *, refresh_s: float = 30.0):
        self.database = database
        self.refresh_s = refresh_s
        self._offset: timedelta | None = None
        self._measured_at = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            stale = self._offset is None or time.monotonic() - self._measured_at > self.refresh_s
        if stale:
            before = utcnow()
            server = server_now(self.database)
            after = utcnow()
            offset = server - (before + (after - before) / 2)
            with self._lock:
                self._offset, self._measured_at = offset, time.monotonic()
        return utcnow() + (self._offset or timedelta(0))


def encode_cursor(at: datetime, last_id: str) -> str:
    raw = json.dumps([at.isoformat(), last_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")



def decode_cursor(cursor: str) -> tuple[datetime, str]:
    padded = cursor + "=" * (-len(cursor) % 4)
    created_at, last_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
    return datetime.fromisoformat(created_at), str(last_id)


class InboxIndexRepository:
    """One document per recipient (`_id` = employee id): `items`, newest first, each
    `{"id": notification id, "at": when it was delivered, "read_at": None or when it was read}`.

    Why: the inbox and its unread count used to be a query on `recipient_id`, a scan of every
    person's notifications on FerretDB v1 (133 ms p50 at org-20k). One `_id` read gives the page
    and the count; the page's items are then read by `_id`. Written only by the store projector
    (`application.projections.InboxIndex`, under its lease), each write conditioned on the store
    order of the event it applied.
    """

    def __init__(self, database):
        self.collection = database[INBOX_INDEX]

    def get(self, recipient_id: str) -> dict | None:
        return self.collection.find_one({"_id": recipient_id})

    def put(self, doc: dict) -> bool:
        return replace_if_newer(self.collection, doc)

    def drop(self) -> None:
        self.collection.drop()


class InboxRepository:
    def __init__(self, database):
        self.collection = database[INBOX]

    def ensure_indexes(self) -> None:
        # no reader queries recipient_id since the inbox index (kept for a mongod that has it; dropping
        # an index is a migration of its own)
        self.collection.create_index([("recipient_id", ASCENDING), ("created_at", DESCENDING)])

    def purge_before(self, cutoff: datetime) -> int:
        """Delete inbox items created before `cutoff` (a scan on FerretDB: see DeliveriesRepository)."""
        return self.collection.delete_many({"created_at": {"$lt": cutoff}}).deleted_count

    def put(self, message) -> None:
        """Idempotent: the notification id is the document id, and a resend keeps `read_at`."""
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

    def of_recipient(self, recipient_id: str) -> list[dict]:
        """Every inbox item of the person (a scan: the subject access export)."""
        return list(self.collection.find({"recipient_id": recipient_id}))

    def get(self, notification_id: str) -> dict | None:
        return self.collection.find_one({"_id": notification_id})

    def mark_read(self, notification_id: str, at: datetime) -> dict:
        doc = self.get(notification_id)
        if doc is not None and doc.get("read_at") is None:
            doc = self.collection.find_one_and_update(
                {"_id": notification_id}, {"$set": {"read_at": at}}, return_document=ReturnDocument.AFTER
            )
        return doc
