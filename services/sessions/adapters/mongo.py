"""MongoDB collections of the sessions service (looked up by string `_id` wherever possible).

Every collection here is a read model written by exactly one projection (application/projections.py)
and rebuildable: pairings and cohorts from matching's topic, meetings and engagement from this
service's own event store. Writers get their collections from the (generation-bound) database the
projection is bound to; readers from `shared.generations.live_database`, so a rebuild's swap is
followed without a restart. Nothing here is written by a request handler.

Private text (agendas, notes) is not here: it lives in the event store's commits (see
application/commands.py), except `meeting_texts`, read-only, where older versions kept it.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Callable, TypeVar

from pymongo import ASCENDING

from shared.clock import parse_rfc3339, rfc3339
from shared.mongo import insert_new, replace_if_newer
from services.sessions.domain.meetings import Meeting
from services.sessions.domain.pairing import PairingInfo

PAIRINGS = "pairings"
COHORTS = "cohorts"
MEETINGS = "meetings"
PAIRING_MEETINGS = "pairing_meetings"
ENGAGEMENT = "engagement"
AGREEMENTS = "agreements"
LEGACY_TEXTS = "meeting_texts"
AVAILABILITY_INDEX = "availability_index"  # employee id -> when their availability was last set (no intervals)


def _instant(value):
    return rfc3339(value) if value is not None else None


class PairingsRepository:
    """Pairings and cohorts as matching's events describe them."""

    def __init__(self, database):
        self.pairings = database[PAIRINGS]
        self.cohorts = database[COHORTS]

    def ensure_indexes(self) -> None:
        self.pairings.create_index([("cohort_id", ASCENDING)], name="by_cohort")
        self.pairings.create_index([("status", ASCENDING)], name="by_status")

    def get_doc(self, pairing_id: str) -> dict | None:
        return self.pairings.find_one({"_id": pairing_id})

    def get(self, pairing_id: str) -> PairingInfo | None:
        doc = self.get_doc(pairing_id)
        return to_info(doc) if doc and doc.get("mentor_id") else None

    def put(self, doc: dict) -> bool:
        return replace_if_newer(self.pairings, doc)

    def docs_of_party(self, employee_id: str) -> list[dict]:
        """The pairings naming the person (a scan on FerretDB; rare: the subject access export)."""
        return list(self.pairings.find({"$or": [{"mentor_id": employee_id}, {"mentee_id": employee_id}]}))

    def active(self) -> list[PairingInfo]:
        return [to_info(d) for d in self.pairings.find({"status": "active"})]

    def all(self) -> list[PairingInfo]:
        """A scan (the hourly availability retention job)."""
        return [to_info(d) for d in self.pairings.find({}) if d.get("mentor_id")]

    def finished(self) -> list[PairingInfo]:
        """Ended and completed pairings: those whose private text may have a retention clock running."""
        return [to_info(d) for d in self.pairings.find({"status": {"$in": ["ended", "completed"]}})]

    def get_cohort(self, cohort_id: str) -> dict | None:
        return self.cohorts.find_one({"_id": cohort_id})

    def put_cohort(self, doc: dict) -> bool:
        return replace_if_newer(self.cohorts, doc)

    def drop(self) -> None:
        self.pairings.drop()
        self.cohorts.drop()


def to_info(doc: dict) -> PairingInfo:
    return PairingInfo(
        pairing_id=doc["_id"], cohort_id=doc["cohort_id"], mentor_id=doc["mentor_id"], mentee_id=doc["mentee_id"],
        status=doc["status"],
        activated_at=parse_rfc3339(doc["activated_at"]) if doc.get("activated_at") else None,
        ended_at=parse_rfc3339(doc["ended_at"]) if doc.get("ended_at") else None,
        completed_at=parse_rfc3339(doc["completed_at"]) if doc.get("completed_at") else None,
        staying_in_touch=bool(doc.get("staying_in_touch")),
        parted_at=parse_rfc3339(doc["parted_at"]) if doc.get("parted_at") else None,
    )


_SIDE_BY_SIDE = ThreadPoolExecutor(8, thread_name_prefix="sessions-views")
T = TypeVar("T")


def side_by_side(calls: list[Callable[[], T]]) -> list[T]:
    """Round trips to different documents at once (a batch of new meetings waits for one, not one
    per document it touches); every call has finished when this returns or raises (the first
    error), so what follows (a placement written last) never overtakes them."""
    if len(calls) <= 1:
        return [call() for call in calls]
    futures = [_SIDE_BY_SIDE.submit(call) for call in calls]
    wait(futures)
    return [future.result() for future in futures]


def read_side_by_side(collection, ids: list[str]) -> dict[str, dict | None]:
    """Documents by `_id`, read at once (`_id` look-ups: the one read FerretDB v1 indexes; an `$in`
    would scan)."""
    return dict(zip(ids, side_by_side([partial(collection.find_one, {"_id": key}) for key in ids])))


class MeetingsRepository:
    """Each meeting's current state (the meetings projection writes it; lists read it).

    The stream is the truth: single-meeting reads and every command load it. This view serves
    lists by pairing or cohort and the engagement numbers.
    """

    def __init__(self, database):
        self.collection = database[MEETINGS]
        self.by_pairing = database[PAIRING_MEETINGS]

    def ensure_indexes(self) -> None:
        self.collection.create_index([("pairing_id", ASCENDING)], name="by_pairing")
        self.collection.create_index([("cohort_id", ASCENDING)], name="by_cohort")

    def get(self, meeting_id: str) -> dict | None:
        return self.collection.find_one({"_id": meeting_id})

    def put(self, doc: dict, *, new: bool = False) -> bool:
        """Store the meeting unless a later version is stored. `new`: none was found just before,
        so the insert goes first (on FerretDB v1 the conditional replace of a meeting not yet
        stored scans every meeting: 30 ms a schedule at a few hundred, growing with the view)."""
        if not replace_if_newer(self.collection, doc, likely_new=new):
            return False
        self._file_under_pairing(doc)
        return True

    def insert_first(self, docs: list[dict]) -> set[str]:
        """Meetings' first versions in one insert, then filed under their pairings; returns the ids
        already stored (a replay: the caller decides those against what is stored)."""
        stored = insert_new(self.collection, docs)
        by_pairing: dict[str, list[dict]] = {}
        for doc in docs:
            if doc["_id"] not in stored:
                by_pairing.setdefault(doc["pairing_id"], []).append(doc)
        bundles = read_side_by_side(self.by_pairing, list(by_pairing))
        side_by_side([partial(self._file, pairing_id, filed, bundles[pairing_id])
                      for pairing_id, filed in by_pairing.items()])
        return stored

    def _file_under_pairing(self, doc: dict) -> None:
        self._file(doc["pairing_id"], [doc], self.by_pairing.find_one({"_id": doc["pairing_id"]}))

    def _file(self, pairing_id: str, docs: list[dict], bundle: dict | None) -> None:
        """The pairing's meetings, earliest first, in one document: `for_pairing` is one `_id` read
        (the pairing page, a pairing's end, retention) where a `pairing_id` filter scanned every
        meeting on FerretDB v1. Read-then-write is safe here: the meetings projection is its only
        writer (one store projector, under a lease), and a meeting's entry is rewritten at each of
        its events, so even a write lost to a paused former lease holder heals at the next one."""
        bundle = bundle or {}
        ids = {doc["_id"] for doc in docs}
        entries = [m for m in bundle.get("meetings") or () if m["_id"] not in ids]
        entries.extend(docs)
        entries.sort(key=lambda m: (m["starts_at"], m["_id"]))
        self.by_pairing.replace_one({"_id": pairing_id}, {"_id": pairing_id, "meetings": entries}, upsert=True)

    def for_pairing(self, pairing_id: str) -> list[dict]:
        bundle = self.by_pairing.find_one({"_id": pairing_id})
        return list(bundle["meetings"]) if bundle else []

    def of_party(self, employee_id: str) -> list[dict]:
        """Every meeting naming the person: one scan (the subject access export), not one per pairing."""
        return list(self.collection.find({"$or": [{"mentor_id": employee_id}, {"mentee_id": employee_id}]}))

    def scheduled(self) -> list[dict]:
        return list(self.collection.find({"status": "scheduled"}))

    def drop(self) -> None:
        self.collection.drop()
        self.by_pairing.drop()


def to_doc(meeting: Meeting) -> dict:
    return {
        "_id": meeting.meeting_id, "meeting_id": meeting.meeting_id, "pairing_id": meeting.pairing_id,
        "cohort_id": meeting.cohort_id, "mentor_id": meeting.mentor_id, "mentee_id": meeting.mentee_id,
        "organizer_id": meeting.organizer_id, "scheduled_by": meeting.scheduled_by,
        "starts_at": _instant(meeting.starts_at), "ends_at": _instant(meeting.ends_at()),
        "duration_minutes": meeting.duration_minutes, "timezone": meeting.timezone, "status": meeting.status,
        "sequence": meeting.sequence, "cancel_reason": meeting.cancel_reason, "cancelled_by": meeting.cancelled_by,
        "held_at": _instant(meeting.held_at), "held_minutes": meeting.held_minutes,
        "attendees": meeting.attendees, "absent_ids": meeting.absent_ids, "recorded_by": meeting.recorded_by,
        "disputed": {"by": meeting.disputed_by, "at": meeting.disputed_at} if meeting.disputed_by else None,
        "series_id": meeting.series_id, "series_index": meeting.series_index,
        "original_starts_at": _instant(meeting.original_starts_at),
        "group_meeting_id": meeting.group_meeting_id, "circle_id": meeting.circle_id,
        "version": meeting.version,
        "updated_at": meeting.updated_at,
    }


def from_doc(doc: dict) -> Meeting:
    """The meeting a view document describes (the projection applies the next event to it)."""
    starts_at = parse_rfc3339(doc["starts_at"]) if doc.get("starts_at") else None
    return Meeting(
        meeting_id=doc["_id"], pairing_id=doc["pairing_id"], cohort_id=doc["cohort_id"], mentor_id=doc["mentor_id"],
        mentee_id=doc["mentee_id"], organizer_id=doc["organizer_id"], scheduled_by=doc.get("scheduled_by"),
        starts_at=starts_at, duration_minutes=doc["duration_minutes"], timezone=doc["timezone"],
        status=doc["status"], sequence=doc.get("sequence", 0), cancel_reason=doc.get("cancel_reason"),
        cancelled_by=doc.get("cancelled_by"),
        held_at=parse_rfc3339(doc["held_at"]) if doc.get("held_at") else None, held_minutes=doc.get("held_minutes"),
        attendees=list(doc.get("attendees") or []), absent_ids=list(doc.get("absent_ids") or []),
        recorded_by=doc.get("recorded_by"), disputed_by=(doc.get("disputed") or {}).get("by"),
        disputed_at=(doc.get("disputed") or {}).get("at"), version=doc["version"], updated_at=doc.get("updated_at"),
        series_id=doc.get("series_id"), series_index=doc.get("series_index"),
        original_starts_at=parse_rfc3339(doc["original_starts_at"]) if doc.get("original_starts_at") else None,
        group_meeting_id=doc.get("group_meeting_id"), circle_id=doc.get("circle_id"),
    )


class EngagementRepository:
    """Per pairing: is it announced at risk (folded from PairingAtRisk / PairingBackOnTrack)?

    Lets the periodic check load a pairing's stream only when its state may change; the decision
    itself is always taken on the loaded stream.
    """

    def __init__(self, database):
        self.collection = database[ENGAGEMENT]

    def at_risk(self, pairing_id: str) -> bool:
        doc = self.collection.find_one({"_id": pairing_id})
        return bool(doc and doc.get("at_risk"))

    def put(self, doc: dict) -> bool:
        return replace_if_newer(self.collection, doc)

    def drop(self) -> None:
        self.collection.drop()


class AgreementsRepository:
    """Per pairing: the cadence of its last confirmed agreement (AgreementConfirmed), which drives
    its at-risk clock instead of the cohort's (application/queries.py)."""

    def __init__(self, database):
        self.collection = database[AGREEMENTS]

    def ensure_indexes(self) -> None:
        self.collection.create_index([("cohort_id", ASCENDING)], name="by_cohort")

    def put(self, doc: dict) -> bool:
        return replace_if_newer(self.collection, doc)

    def cadence_of(self, pairing_id: str) -> int | None:
        doc = self.collection.find_one({"_id": pairing_id})
        return int(doc["cadence_days"]) if doc else None

    def drop(self) -> None:
        self.collection.drop()


class LegacyMeetingTexts:
    """Agendas and notes that versions before the commit-private store kept in `meeting_texts`."""

    def __init__(self, database):
        self.collection = database[LEGACY_TEXTS]

    def get(self, meeting_id: str) -> dict:
        doc = self.collection.find_one({"_id": meeting_id}) or {}
        return {k: v for k, v in doc.items() if k in ("agenda", "notes", "notes_by")}


BUSY_WEEKS = "busy_weeks"
BUSY_PLACEMENTS = "busy_placements"


def week_of(moment) -> str:
    """The UTC week (its Monday, ISO date) an instant falls in: a busy week document's key part."""
    day = moment.astimezone(timezone.utc).date()
    return (day - timedelta(days=day.weekday())).isoformat()


def busy_week_id(employee_id: str, week: str) -> str:
    return f"{employee_id}|{week}"


class BusyTimesRepository:
    """Per person and UTC week, the scheduled meetings (meeting_id, starts_at, ends_at: objects, as
    FerretDB v1 refuses arrays in arrays) of all their pairings:
    `busy_weeks`, `_id` = "<employee id>|<Monday>", so finding slots reads a few documents by
    `_id` (FerretDB v1 scans any other filter). `busy_placements` (`_id` = meeting id) remembers
    which week documents hold a meeting, so a reschedule or a cancellation takes it out of them.
    Written only by the busy-times projection (application/projections.py)."""

    def __init__(self, database):
        self.weeks = database[BUSY_WEEKS]
        self.placements = database[BUSY_PLACEMENTS]

    def week(self, employee_id: str, week: str) -> dict | None:
        return self.weeks.find_one({"_id": busy_week_id(employee_id, week)})

    def week_doc(self, key: str) -> dict | None:
        return self.weeks.find_one({"_id": key})

    def week_docs(self, keys: list[str]) -> dict[str, dict | None]:
        return read_side_by_side(self.weeks, keys)

    def put_weeks(self, docs: list[tuple[dict, bool]]) -> None:
        """Week documents (each with `new`, as `put_week`) written side by side."""
        side_by_side([partial(self.put_week, doc, new=new) for doc, new in docs])

    def placement(self, meeting_id: str) -> dict | None:
        return self.placements.find_one({"_id": meeting_id})

    def put_week(self, doc: dict, *, new: bool) -> bool:
        return replace_if_newer(self.weeks, doc, likely_new=new)

    def put_placement(self, doc: dict, *, new: bool) -> bool:
        return replace_if_newer(self.placements, doc, likely_new=new)

    def insert_placements(self, docs: list[dict]) -> set[str]:
        """New meetings' placements in one insert; returns the ids already placed."""
        return insert_new(self.placements, docs)

    def busy(self, employee_id: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime, str]]:
        """(start, end, meeting id) of the person's scheduled meetings overlapping [start, end)."""
        found = []
        start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
        monday = start.date() - timedelta(days=start.weekday())
        while monday <= end.date():
            doc = self.week(employee_id, monday.isoformat())
            for item in (doc or {}).get("meetings") or []:
                span = (parse_rfc3339(item["starts_at"]), parse_rfc3339(item["ends_at"]), item["meeting_id"])
                if span[0] < end and span[1] > start:
                    found.append(span)
            monday += timedelta(days=7)
        return sorted(set(found))

    def drop(self) -> None:
        self.weeks.drop()
        self.placements.drop()


class AvailabilityIndex:
    """Who has set a weekly availability, and when last (ids and times only; the intervals stay in
    the commits' private part): what availability's retention job walks (application/retention.py)."""

    def __init__(self, database):
        self.collection = database[AVAILABILITY_INDEX]

    def put(self, doc: dict) -> bool:
        return replace_if_newer(self.collection, doc, likely_new=doc["version"] == 1)

    def all(self) -> list[dict]:
        """A scan (the hourly retention job only)."""
        return list(self.collection.find({}))

    def drop(self) -> None:
        self.collection.drop()
