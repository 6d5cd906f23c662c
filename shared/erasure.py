"""Erasure of a person (GDPR Art. 17, issue 13; README "Privacy"): the parts every service shares.

How an erasure travels: the HRIS's `EmployeeErasureRequested` or an admin's
`POST /v1/privacy/erasures` (matching) is recorded on matching's erasure stream of the person;
matching erases what it holds and publishes `PersonErased` (`service: "matching"`). Sessions,
feedback and notifications erase on matching's `PersonErased` (sessions and notifications also on
the HRIS event itself: whichever comes first) and each publishes its own `PersonErased`.

In each service, in this order:
1. `ErasedPeople.record`: the person goes into the service's `erasures` collection (a unique `_id`
   insert; never generation-bound, never dropped by a rebuild). From now on every projection that
   would copy the person's personal data consults it (`_id` look-ups) and writes the erased form,
   so neither a late event nor a rebuild from the stored events brings the data back.
2. the service's own `erase(employee_id, at)`: every personal field of the person in its read models
   is deleted or replaced; what others need (a partner's pairing, counts, history) stays, and the
   person's directory record becomes `erased_record`: no profile, shown as "former participant".
   Erasing again changes nothing (deletes and replacements by the same rule).
3. `PersonErased` appended on the person's erasure stream of the service's own store at version 0
   (1 in matching, after its request): the store refuses a second one, so redeliveries, replays
   and a second replica publish it once. A stream that already has it means "done": nothing is
   erased twice.

What this does not cover yet (README Privacy): events in the stores and on Kafka still hold the
person's identifying fields and published free text (goal titles, shared comments), and the
sessions store's private text of meetings and goals the pair shares.
"""
from __future__ import annotations

from typing import Callable, Iterable

from pymongo.errors import DuplicateKeyError

from shared.aggregate import AggregateStore, Causation, NewEvent
from shared.clock import rfc3339
from shared.consumer import Projection
from shared.events.catalog.hris import EMPLOYEE_ERASURE_REQUESTED
from shared.events.catalog.matching import ERASURE, PERSON_ERASED
from shared.events.envelope import Envelope
from shared.eventstore import ConcurrencyError

ERASURES = "erasures"
TERMINATED = "terminated"  # = shared.directory.TERMINATED (which imports this module)
FORMER_PARTICIPANT = "former participant"  # what every view shows in place of an erased person's name
SMALL_LOOKUP = 2  # erased_among: up to this many ids are looked up one by one


def stream_id(employee_id: str) -> str:
    """The person's erasure stream, in every service's own store."""
    return f"erasure|{employee_id}"


def erased_record(employee_id: str, at: str) -> dict:
    """A directory document after erasure: no profile field, status terminated (so every existing
    guard treats the person as gone: no card, no notification, no enrolment), and a display name
    that says what happened."""
    return {"_id": employee_id, "employee_id": employee_id, "display_name": FORMER_PARTICIPANT,
            "status": TERMINATED, "terminated_on": None, "terminated_at": at, "erased": True, "erased_at": at}


class ErasedPeople:
    """The service's record of erased people (`erasures`, keyed by employee id).

    `database` may be a generation-bound or live handle: `erasures` belongs to no projection, so
    every handle gives the one plain collection.
    """

    def __init__(self, database):
        self.collection = database[ERASURES]

    def record(self, employee_id: str, *, at: str, source: str) -> bool:
        """True when this call recorded the person (a unique insert; a second one is a no-op)."""
        try:
            self.collection.insert_one({"_id": employee_id, "at": at, "source": source})
            return True
        except DuplicateKeyError:
            return False

    def is_erased(self, employee_id: str | None) -> bool:
        return bool(employee_id) and self.collection.find_one({"_id": employee_id}) is not None

    def erased_among(self, employee_ids: Iterable[str]) -> set[str]:
        """Which of these people are erased, in one round trip: a pair by `_id` look-ups, a batch
        (an org load, a bulk enrolment) by reading every erased id once (few people are ever
        erased; FerretDB would scan an `$in` anyway)."""
        ids = {i for i in employee_ids if i}
        if not ids:
            return set()
        if len(ids) <= SMALL_LOOKUP:
            return {i for i in ids if self.is_erased(i)}
        return ids & {doc["_id"] for doc in self.collection.find({}, {"_id": 1})}

    def get(self, employee_id: str) -> dict | None:
        return self.collection.find_one({"_id": employee_id})


class PersonEraser:
    """Steps 1-3 of the module docstring for one service; `erase(employee_id)` is the service's own
    step 2, `erase(employee_id, at)` (returns what it changed, for the log)."""

    def __init__(self, *, service: str, store, registry, database, clock, erase: Callable[[str, str], object]):
        self.service = service
        self.store = store
        self.aggregates = AggregateStore(store, registry, producer=service, aggregate_type=ERASURE)
        self.erased = ErasedPeople(database)
        self.clock = clock
        self.erase_views = erase

    def done(self, employee_id: str) -> bool:
        loaded = self.aggregates.load(stream_id(employee_id))
        return any(e.event_type == PERSON_ERASED for e in loaded.events)

    def erase(self, employee_id: str, causation: Causation, *, source: str, expected_version: int = 0,
              before_views: Callable[[], object] = lambda: None) -> bool:
        """Erase the person once; True when this call published the service's PersonErased."""
        if self.done(employee_id):
            return False
        at = rfc3339(self.clock.now())
        self.erased.record(employee_id, at=at, source=source)
        before_views()  # e.g. let own-stream views apply what was stored before the record
        self.erase_views(employee_id, at)
        event = NewEvent(PERSON_ERASED, {"employee_id": employee_id, "service": self.service, "at": at})
        try:
            self.aggregates.append(stream_id(employee_id), expected_version, [event], causation,
                                   occurred_at=self.clock.now())
        except ConcurrencyError:
            return False  # another replica (or an earlier delivery) published it
        return True


class ErasurePolicy(Projection):
    """A Kafka-fed reaction (no collections of its own, so a rebuild never replays it): erase the
    person on the HRIS's request or on another service's `PersonErased`."""

    collections = ()

    def __init__(self, eraser: PersonEraser, *, name: str, topics: tuple[str, ...], on_hris: bool):
        self.eraser = eraser
        self.name = name
        self.topics = topics
        self.on_hris = on_hris

    def handlers(self):
        handlers = {PERSON_ERASED: self.person_erased}
        if self.on_hris:
            handlers[EMPLOYEE_ERASURE_REQUESTED] = self.requested
        return handlers

    def reset(self) -> None:
        """Nothing of its own: its effects are the erased views and one event in the store."""

    def requested(self, envelope: Envelope) -> None:
        self.eraser.erase(envelope.data["employee_id"], Causation.from_event(envelope), source="hris")

    def person_erased(self, envelope: Envelope) -> None:
        if envelope.data.get("service") == self.eraser.service:
            return  # our own, read back from a topic we also consume
        self.eraser.erase(envelope.data["employee_id"], Causation.from_event(envelope),
                          source=f"{envelope.data.get('service')}")
