"""The HRIS directory: every service's projection of `hris.employees.v1`, written once.

The HRIS sends a person's whole profile on every change, more than once and out of order across
(and, after a replay, within) people. So the newest record wins, whatever order records arrive
in and however often:

- a record's moment is its *stamp* `[occurred_at (normalised), event_id]`: time first, the event
  id breaking exact ties, so any two records compare the same way in every process;
- the profile and the employment status are folded separately: the profile is the newest
  upsert's; the status is that of the newest record of either kind. An old upsert arriving after
  a termination does not reactivate the person; a newer one (a rehire) does.
- applying a record twice, or one older than what is stored, changes nothing.

A service says which profile fields it keeps (`DirectoryProjection(database, fields=(...))`);
the bookkeeping (`profile_stamp`, `status_stamp`, `terminated_at`, ...) is the same everywhere.
`terminated_at` is the `occurred_at` of the termination in effect: reactions to a termination
(ending pairings, cancelling meetings) apply only to what existed before it, so replaying an old
termination after a rehire never touches the person's current pairings.

An erased person (shared.erasure) keeps only `erased_record`: records arriving later, or replayed
by a rebuild, are folded into nothing (the `erasures` collection is consulted by `_id`).

The projection has no side effects: services react to `EmployeeTerminated` in a policy of their
own (`application/policies.py`), never through a callback here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from shared import topics
from shared.clock import parse_rfc3339
from shared.consumer import Projection
from shared.erasure import ErasedPeople, erased_record
from shared.events.catalog.hris import EMPLOYEE_TERMINATED, EMPLOYEE_UPSERTED
from shared.events.envelope import Envelope
from shared.mongo import insert_new

COLLECTION = "participants"

# Every profile field of EmployeeUpserted v1 (contract section 3); services keep a subset.
PROFILE_FIELDS = (
    "email", "display_name", "title", "department", "level", "manager_id", "location", "timezone",
    "languages", "skills", "hire_date",
)
ACTIVE = "active"
TERMINATED = "terminated"
BOOKKEEPING = ("profile_stamp", "profile_occurred_at", "status_stamp")


def stamp_of(occurred_at: str, event_id: str) -> list[str]:
    """A record's sortable moment: the instant (normalised to microseconds, UTC) then the event id."""
    return [parse_rfc3339(occurred_at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), event_id]


def stamp(envelope: Envelope) -> list[str]:
    return stamp_of(envelope.occurred_at, envelope.event_id)


def empty(employee_id: str) -> dict:
    """A person nobody has told us about yet: no profile, no status."""
    return {"_id": employee_id, "employee_id": employee_id}


@dataclass(frozen=True)
class Change:
    changed: bool = False  # the document must be saved
    newly_terminated: bool = False  # this record moved the person from not-terminated to terminated


def note_level(doc: dict, on: str, level) -> bool:
    """Add "level `level` from day `on`" to `doc["level_history"]`: the starts of each run of one
    level, oldest first, as `"YYYY-MM-DD:level"` strings (FerretDB v1 stores no nested arrays);
    True when that changed it. A level equal to the one already in effect adds nothing; an older
    record of the same level moves its run's start back; of two records of one day, the one applied
    last counts. (Programme outcomes read promotions from it.)"""
    if not isinstance(level, int) or isinstance(level, bool):
        return False
    old = list(doc.get("level_history") or [])
    days = {entry.split(":")[0]: int(entry.split(":")[1]) for entry in old}
    days[on] = level
    runs: list[str] = []
    previous = None
    for day in sorted(days):
        if days[day] != previous:
            runs.append(f"{day}:{days[day]}")
            previous = days[day]
    if runs == old:
        return False
    doc["level_history"] = runs
    return True


def apply_record(doc: dict, envelope: Envelope, fields: Sequence[str] = PROFILE_FIELDS, *,
                 level_history: bool = False) -> Change:
    """Fold one HRIS record into `doc` (mutated): newest wins, profile and status separately; with
    `level_history`, every upsert's level is also kept by day (`note_level`)."""
    moment = stamp(envelope)
    changed = newly_terminated = False
    newer_status = doc.get("status_stamp") is None or moment > doc["status_stamp"]
    if envelope.event_type == EMPLOYEE_UPSERTED and level_history:
        changed = note_level(doc, moment[0][:10], envelope.data.get("level"))
    if envelope.event_type == EMPLOYEE_UPSERTED:
        if doc.get("profile_stamp") is None or moment > doc["profile_stamp"]:
            doc.update({name: envelope.data.get(name) for name in fields})
            doc.update(profile_stamp=moment, profile_occurred_at=envelope.occurred_at)
            changed = True
        if newer_status:
            doc.update(status=ACTIVE, terminated_on=None, terminated_at=None, status_stamp=moment)
            changed = True
    elif envelope.event_type == EMPLOYEE_TERMINATED and newer_status:
        newly_terminated = doc.get("status") != TERMINATED
        doc.update(status=TERMINATED, terminated_on=str(envelope.data["terminated_on"]),
                   terminated_at=envelope.occurred_at, status_stamp=moment)
        changed = True
    return Change(changed, newly_terminated)


def fold(employee_id: str, envelopes: Iterable[Envelope], fields: Sequence[str] = PROFILE_FIELDS,
         doc: dict | None = None, *, level_history: bool = False) -> tuple[dict, bool]:
    """Fold records (any order, duplicates allowed) onto `doc` (or an empty person): (doc, changed)."""
    doc = doc if doc is not None else empty(employee_id)
    changed = False
    for envelope in envelopes:
        changed = apply_record(doc, envelope, fields, level_history=level_history).changed or changed
    return doc, changed


def public(doc: dict, fields: Sequence[str] = PROFILE_FIELDS) -> dict:
    """The person as an API shows them: the kept fields and the status, no bookkeeping."""
    out = {"employee_id": doc["employee_id"], "status": doc.get("status", ACTIVE),
           "terminated_on": doc.get("terminated_on")}
    out.update({name: doc.get(name) for name in fields})
    out["updated_at"] = doc.get("profile_occurred_at")
    return out


class DirectoryRepository:
    """The directory collection; documents keyed by employee id (an `_id` look-up everywhere)."""

    def __init__(self, database, collection: str = COLLECTION):
        self.collection = database[collection]

    def get(self, employee_id: str) -> dict | None:
        return self.collection.find_one({"_id": employee_id})

    def put(self, doc: dict) -> None:
        self.collection.find_one_and_replace({"_id": doc["_id"]}, doc, upsert=True)

    def erase(self, employee_id: str, at: str) -> None:
        """Replace the person's record with the erased form (shared.erasure); again changes nothing."""
        doc = self.get(employee_id)
        if doc is None or not doc.get("erased"):
            self.put(erased_record(employee_id, at))

    def insert_new(self, docs: list[dict]) -> set[str]:
        """Insert first sightings in one round trip; returns the ids that already existed."""
        return insert_new(self.collection, docs)

    def drop(self) -> None:
        self.collection.drop()


class DirectoryProjection(Projection):
    """`hris.employees.v1` -> one document per person with the fields this service keeps.

    Use it as it is (`DirectoryProjection(database, name="sessions-directory", fields=(...))`)
    or subclass it setting `name`, `fields` and `collection`.
    """

    name = "directory"
    topics = (topics.HRIS_EMPLOYEES,)
    collection = COLLECTION
    fields: tuple[str, ...] = PROFILE_FIELDS
    batchable = frozenset({EMPLOYEE_UPSERTED, EMPLOYEE_TERMINATED})

    level_history = False  # keep each person's level by day (matching: programme outcomes)

    def __init__(self, database, *, name: str | None = None, fields: Sequence[str] | None = None,
                 collection: str | None = None, level_history: bool | None = None):
        if level_history is not None:
            self.level_history = level_history
            self.version = 2 if level_history else 1  # the documents hold more: migrate rebuilds them
        if name is not None:
            self.name = name
        if fields is not None:
            unknown = set(fields) - set(PROFILE_FIELDS)
            if unknown:
                raise ValueError(f"not HRIS profile fields: {sorted(unknown)}")
            self.fields = tuple(fields)
        if collection is not None:
            self.collection = collection
        self.collections = (self.collection,)
        self.bind(database)

    def bind(self, database) -> None:
        """(Re)attach to a database handle (a rebuild binds a generation-bound one)."""
        self.repository = DirectoryRepository(database, self.collection)
        self.erased = ErasedPeople(database)

    def handlers(self):
        return {EMPLOYEE_UPSERTED: self.apply, EMPLOYEE_TERMINATED: self.apply}

    def reset(self) -> None:
        self.repository.drop()

    def get(self, employee_id: str) -> dict | None:
        return self.repository.get(employee_id)

    def apply(self, envelope: Envelope) -> None:
        employee_id = envelope.data["employee_id"]
        if self.erased.is_erased(employee_id):
            self._keep_erased(employee_id)
            return
        doc = self.repository.get(employee_id) or empty(employee_id)
        if apply_record(doc, envelope, self.fields, level_history=self.level_history).changed:
            self.repository.put(doc)

    def apply_batch(self, envelopes: list[Envelope]) -> None:
        """A run of records (the org load): first sightings are folded and inserted in one round
        trip; people already stored get their records folded onto the stored document, saved once."""
        by_person: dict[str, list[Envelope]] = {}
        for envelope in envelopes:
            by_person.setdefault(envelope.data["employee_id"], []).append(envelope)
        for person in self.erased.erased_among(by_person):
            del by_person[person]
            self._keep_erased(person)
        folded = [fold(person, records, self.fields, level_history=self.level_history)[0]
                  for person, records in by_person.items()]
        existing = self.repository.insert_new(folded) if folded else set()
        for person in sorted(existing):
            doc, changed = fold(person, by_person[person], self.fields, doc=self.repository.get(person),
                                level_history=self.level_history)
            if changed:
                self.repository.put(doc)

    def _keep_erased(self, employee_id: str) -> None:
        """A record of an erased person: only the erased form is kept (also what a rebuild writes)."""
        record = self.erased.get(employee_id) or {}
        self.repository.erase(employee_id, record.get("at") or "")
