"""MongoDB collections of the sessions service (looked up by string `_id` wherever possible)."""
from __future__ import annotations

from pymongo import ASCENDING

from shared.clock import parse_rfc3339, rfc3339
from shared.mongo import insert_new
from services.sessions.domain.meetings import Meeting
from services.sessions.domain.pairing import PairingInfo


def _instant(value):
    return rfc3339(value) if value is not None else None


class ParticipantsRepository:
    """Names, e-mail addresses and time zones from the HRIS (for invitations)."""

    COLLECTION = "participants"

    def __init__(self, database):
        self.collection = database[self.COLLECTION]

    def get(self, employee_id: str) -> dict | None:
        return self.collection.find_one({"_id": employee_id})

    def put(self, doc: dict) -> None:
        self.collection.find_one_and_replace({"_id": doc["_id"]}, doc, upsert=True)

    def insert_new(self, docs: list[dict]) -> set[str]:
        """Insert documents in one round trip; returns the ids that already existed."""
        return insert_new(self.collection, docs)

    def drop(self) -> None:
        self.collection.drop()


class PairingsRepository:
    """Pairings and cohorts as matching's events describe them."""

    def __init__(self, database):
        self.pairings = database["pairings"]
        self.cohorts = database["cohorts"]

    def ensure_indexes(self) -> None:
        self.pairings.create_index([("cohort_id", ASCENDING)], name="by_cohort")
        self.pairings.create_index([("status", ASCENDING)], name="by_status")

    def get_doc(self, pairing_id: str) -> dict | None:
        return self.pairings.find_one({"_id": pairing_id})

    def get(self, pairing_id: str) -> PairingInfo | None:
        doc = self.get_doc(pairing_id)
        return to_info(doc) if doc and doc.get("mentor_id") else None

    def put(self, doc: dict) -> None:
        self.pairings.find_one_and_replace({"_id": doc["_id"]}, doc, upsert=True)

    def of_cohort(self, cohort_id: str) -> list[PairingInfo]:
        return [to_info(d) for d in self.pairings.find({"cohort_id": cohort_id})]

    def active(self) -> list[PairingInfo]:
        return [to_info(d) for d in self.pairings.find({"status": "active"})]

    def get_cohort(self, cohort_id: str) -> dict | None:
        return self.cohorts.find_one({"_id": cohort_id})

    def put_cohort(self, doc: dict) -> None:
        self.cohorts.find_one_and_replace({"_id": doc["_id"]}, doc, upsert=True)

    def drop(self) -> None:
        self.pairings.drop()
        self.cohorts.drop()


def to_info(doc: dict) -> PairingInfo:
    return PairingInfo(
        pairing_id=doc["_id"], cohort_id=doc["cohort_id"], mentor_id=doc["mentor_id"], mentee_id=doc["mentee_id"],
        status=doc["status"],
        activated_at=parse_rfc3339(doc["activated_at"]) if doc.get("activated_at") else None,
        ended_at=parse_rfc3339(doc["ended_at"]) if doc.get("ended_at") else None,
    )


class MeetingsView:
    """Each meeting's current state, written after every command from the folded stream.

    The stream is the truth (single-meeting reads load it); this view serves lists by pairing
    or cohort. A write never replaces a newer version with an older one.
    """

    COLLECTION = "meetings"

    def __init__(self, database):
        self.collection = database[self.COLLECTION]

    def ensure_indexes(self) -> None:
        self.collection.create_index([("pairing_id", ASCENDING)], name="by_pairing")
        self.collection.create_index([("cohort_id", ASCENDING)], name="by_cohort")

    def save(self, meeting: Meeting) -> None:
        current = self.collection.find_one({"_id": meeting.meeting_id}, {"version": 1})
        if current is not None and current.get("version", 0) >= meeting.version:
            return
        self.collection.find_one_and_replace({"_id": meeting.meeting_id}, to_doc(meeting), upsert=True)

    def for_pairing(self, pairing_id: str) -> list[dict]:
        return sorted(self.collection.find({"pairing_id": pairing_id}), key=lambda d: (d["starts_at"], d["_id"]))

    def held_in_cohort(self, cohort_id: str) -> list[dict]:
        return list(self.collection.find({"cohort_id": cohort_id, "status": "held"}))


def to_doc(meeting: Meeting) -> dict:
    return {
        "_id": meeting.meeting_id, "meeting_id": meeting.meeting_id, "pairing_id": meeting.pairing_id,
        "cohort_id": meeting.cohort_id, "mentor_id": meeting.mentor_id, "mentee_id": meeting.mentee_id,
        "organizer_id": meeting.organizer_id, "starts_at": _instant(meeting.starts_at),
        "ends_at": _instant(meeting.ends_at()), "duration_minutes": meeting.duration_minutes,
        "timezone": meeting.timezone, "status": meeting.status, "cancel_reason": meeting.cancel_reason,
        "held_at": _instant(meeting.held_at), "held_minutes": meeting.held_minutes,
        "attendees": meeting.attendees, "absent_ids": meeting.absent_ids, "version": meeting.version,
        "updated_at": meeting.updated_at,
    }


class MeetingTextsRepository:
    """Agenda and private notes: personal text that never goes into events."""

    COLLECTION = "meeting_texts"

    def __init__(self, database):
        self.collection = database[self.COLLECTION]

    def get(self, meeting_id: str) -> dict:
        return self.collection.find_one({"_id": meeting_id}) or {"_id": meeting_id}

    def set(self, meeting_id: str, **values) -> None:
        self.collection.find_one_and_update({"_id": meeting_id}, {"$set": values}, upsert=True)


class EngagementHints:
    """Last known at-risk flag per pairing, so a periodic check loads a stream only on a change.

    A hint, never the truth: the decision is always taken on the loaded stream.
    """

    COLLECTION = "engagement_hints"

    def __init__(self, database):
        self.collection = database[self.COLLECTION]

    def at_risk(self, pairing_id: str) -> bool:
        doc = self.collection.find_one({"_id": pairing_id})
        return bool(doc and doc.get("at_risk"))

    def set(self, pairing_id: str, at_risk: bool) -> None:
        self.collection.find_one_and_update({"_id": pairing_id}, {"$set": {"at_risk": at_risk}}, upsert=True)
