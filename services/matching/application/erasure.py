"""Erasure of a person in the matching service (GDPR Art. 17; shared.erasure, README Privacy).

Matching owns the people directory, so it is where an erasure starts:
- `ErasureCommands.request`: `POST /v1/privacy/erasures` (an admin) or the HRIS's
  `EmployeeErasureRequested` (`ErasureRequestPolicy`) appends `PersonErasureRequested` as version 1
  of the person's erasure stream. A second request finds the stream and answers with the first.
- `ErasureProcessor` (a process manager on the run processor's store projector: lease, one
  replica at a time, never rebuilt): on `PersonErasureRequested` it erases what matching holds
  (`erase_person`) and appends `PersonErased` as version 2 (shared.erasure.PersonEraser), which
  the relay publishes for the other services.

What matching erases: the person's HRIS record (the erased form: "former participant") and, in
each of their enrolments, the preferences and goals summary (view and the enrolment commits'
private part: the enrolment stream is the person's own), and the message of each request they
sent a mentor (mentee choice: the pairing view and the request commit's private part). Enrolments, pairings, runs and the
cohort counts stay: a partner's pairing and the cohort's history still add up. The enrolments
view consults the erased-people record, so a rebuild writes them without the text again.
"""
from __future__ import annotations

import logging

from shared import erasure, topics
from shared.aggregate import AggregateStore, Causation, NewEvent
from shared.clock import rfc3339
from shared.consumer import Projection
from shared.events.catalog import matching as ev
from shared.events.catalog.hris import EMPLOYEE_ERASURE_REQUESTED
from shared.events.envelope import Envelope
from shared.eventstore import ConcurrencyError

from services.matching.domain import enrollment as enrollments

log = logging.getLogger(__name__)

ENROLMENT_PRIVATE_FIELDS = ("preferences", "goals_summary")  # application/commands.py: the enrolment's private part
REQUEST_PRIVATE_FIELDS = ("message",)  # application/commands.py request_mentor: the mentee's words to the mentor


def erasure_document(employee_id: str, events) -> dict | None:
    """What the API answers about a person's erasure, from their erasure stream (None: never asked)."""
    requested = next((e for e in events if e.event_type == ev.PERSON_ERASURE_REQUESTED), None)
    if requested is None:
        return None
    erased = next((e for e in events if e.event_type == ev.PERSON_ERASED), None)
    return {"employee_id": employee_id, "status": "erased" if erased else "requested",
            "source": requested.data["source"], "requested_at": requested.data["requested_at"],
            "requested_by": requested.data.get("requested_by"), "erased_at": erased.data["at"] if erased else None}


class ErasureCommands:
    def __init__(self, store, registry, clock):
        self.aggregates = AggregateStore(store, registry, producer="matching", aggregate_type=ev.ERASURE)
        self.clock = clock

    def request(self, employee_id: str, *, source: str, requested_at: str | None, requested_by: str | None,
                causation: Causation) -> dict:
        """Record the request once (version 1 of the erasure stream); a repeat answers with the first."""
        stream = erasure.stream_id(employee_id)
        loaded = self.aggregates.load(stream)
        if not loaded.events:
            event = NewEvent(ev.PERSON_ERASURE_REQUESTED, {
                "employee_id": employee_id, "source": source, "requested_by": requested_by,
                "requested_at": requested_at or rfc3339(self.clock.now())})
            try:
                self.aggregates.append(stream, 0, [event], causation, occurred_at=self.clock.now())
            except ConcurrencyError:
                pass  # a simultaneous request won: its record is the answer
            loaded = self.aggregates.load(stream)
        document = erasure_document(employee_id, loaded.events)
        assert document is not None  # the stream starts with the request
        return document

    def status(self, employee_id: str) -> dict | None:
        return erasure_document(employee_id, self.aggregates.load(erasure.stream_id(employee_id)).events)


def erase_person(views, participants, store, employee_id: str, at: str) -> dict:
    """Step 2 of shared.erasure in matching: what it holds of the person, erased (idempotent).

    The one writer of views that is not their projection, on purpose: the text is removed in place
    (no event could carry "forget this" without carrying the text's whereabouts forever). The views
    projection writes the same erased form from then on, also for a document it read just before
    (it consults the erased-people record whenever a document still has text)."""
    participants.erase(employee_id, at)
    changed = 0
    for doc in views.enrollments_of_employee(employee_id):
        store.forget_private(enrollments.stream_id(doc["cohort_id"], employee_id), ENROLMENT_PRIVATE_FIELDS)
        if doc.get("preferences") or doc.get("goals_summary") is not None:
            views.enrollments.collection.update_one({"_id": doc["_id"]},
                                                    {"$set": {"preferences": {}, "goals_summary": None}})
            changed += 1
    messages = 0
    for doc in views.pairings_of_employee(employee_id):
        if doc.get("mentee_id") != employee_id or doc.get("proposed_by") != employee_id:
            continue  # only the requests they sent carry their words
        store.forget_private(doc["_id"], REQUEST_PRIVATE_FIELDS)
        if doc.get("message") is not None:
            views.pairings.collection.update_one({"_id": doc["_id"]}, {"$unset": {"message": ""}})
            messages += 1
    return {"enrollments": changed, "request_messages": messages}


class ErasureRequestPolicy(Projection):
    """hris.employees.v1 `EmployeeErasureRequested` -> the request on the person's erasure stream."""

    name = "matching-erasure-requests"
    topics = (topics.HRIS_EMPLOYEES,)
    collections = ()

    def __init__(self, commands: ErasureCommands):
        self.commands = commands

    def handlers(self):
        return {EMPLOYEE_ERASURE_REQUESTED: self.requested}

    def reset(self) -> None:
        """Nothing of its own: its effect is an event in the store."""

    def requested(self, envelope: Envelope) -> None:
        self.commands.request(envelope.data["employee_id"], source="hris",
                              requested_at=envelope.data["requested_at"], requested_by=None,
                              causation=Causation.from_event(envelope))


class ErasureProcessor(Projection):
    """Own store, `PersonErasureRequested` -> erase, then `PersonErased` (version 2)."""

    name = "matching-erasures"
    topics = ()
    collections = ()

    def __init__(self, eraser: erasure.PersonEraser, wait_for_views):
        self.eraser = eraser
        self.wait_for_views = wait_for_views  # the views include every commit stored before the record

    def handlers(self):
        return {ev.PERSON_ERASURE_REQUESTED: self.requested}

    def reset(self) -> None:
        """Nothing of its own: its effects are the erased views and one event in the store."""

    def requested(self, envelope: Envelope) -> None:
        employee_id = envelope.data["employee_id"]
        if self.eraser.erase(employee_id, Causation.from_event(envelope), source=envelope.data["source"],
                             expected_version=1, before_views=self._settle):
            log.info("erased %s in matching", employee_id)

    def _settle(self) -> None:
        if not self.wait_for_views():
            raise RuntimeError("matching views are behind the event store; retrying the erasure later")
