"""In-memory stand-ins for the notifications service's repositories, channels and outcome store.

They keep the semantics the code relies on: an insert of an existing `_id` is refused (claims,
first sightings), documents come back as copies (as from a database), and an outcome stream
accepts version 1 once.
"""
from __future__ import annotations

import copy
import threading

from shared.clock import ManualClock
from shared.eventstore import ConcurrencyError
from services.notifications.adapters.channels import TransientFailure
from services.notifications.adapters.templates import TemplateRenderer
from services.notifications.application.delivery import Enqueuer, Sender, SenderPool
from services.notifications.application.messages import DeliveryConfig


class FakeDeliveries:
    def __init__(self):
        self.docs: dict[str, dict] = {}
        self.queue: dict[str, dict] = {}
        self.claims: dict[str, dict] = {}
        self.routed: set[str] = set()
        self.lock = threading.Lock()

    def was_routed(self, event_id):
        return event_id in self.routed

    def mark_routed(self, event_id):
        self.routed.add(event_id)

    def get(self, delivery_id):
        return copy.deepcopy(self.docs.get(delivery_id))

    @staticmethod
    def _insert_new(store: dict, docs: list[dict], lock) -> set[str]:
        existing = set()
        with lock:
            for doc in docs:
                if doc["_id"] in store:
                    existing.add(doc["_id"])
                else:
                    store[doc["_id"]] = copy.deepcopy(doc)
        return existing

    def insert_new(self, docs):
        return self._insert_new(self.docs, docs, self.lock)

    def record(self, delivery_id, fields, history=None):
        doc = self.docs[delivery_id]
        doc.update(copy.deepcopy(fields))
        if history is not None:
            doc.setdefault("history", []).append(dict(history))

    def record_many(self, changes):
        for delivery_id, fields, history in changes:
            self.record(delivery_id, fields, history)

    def for_event(self, event_id):
        return sorted((copy.deepcopy(d) for d in self.docs.values() if d["source_event_id"] == event_id),
                      key=lambda d: d["_id"])

    def enqueue_new(self, entries):
        self._insert_new(self.queue, entries, self.lock)

    def reschedule(self, delivery_id, due_at):
        self.queue[delivery_id] = {"_id": delivery_id, "due_at": due_at}

    def dequeue(self, delivery_id):
        self.queue.pop(delivery_id, None)

    def dequeue_many(self, delivery_ids):
        for delivery_id in delivery_ids:
            self.dequeue(delivery_id)

    def due(self, now, limit):
        return sorted((dict(e) for e in self.queue.values() if e["due_at"] <= now), key=lambda e: (e["due_at"], e["_id"]))[:limit]

    def backlog(self):
        return len(self.queue)

    def insert_claims(self, claims):
        return self._insert_new(self.claims, claims, self.lock)

    def claim(self, claim_id):
        return copy.deepcopy(self.claims.get(claim_id))

    def mark_sent(self, marks):
        self._insert_new(self.claims, marks, self.lock)


class FakeDirectory:
    def __init__(self, people=(), admins=None, pairings=()):
        self.people = {p["_id"]: dict(p) for p in people}
        self.admins = dict(admins or {})
        self.pairings = {p["_id"]: dict(p) for p in pairings}
        self.meetings: dict[str, dict] = {}

    def person(self, employee_id):
        return copy.deepcopy(self.people.get(employee_id)) if employee_id else None

    def admins_of(self, cohort_id):
        return list(self.admins.get(cohort_id, []))

    def pairings_of(self, employee_id):
        return [dict(p) for p in self.pairings.values() if employee_id in (p.get("mentor_id"), p.get("mentee_id"))]

    def meetings_of_pairing(self, pairing_id):
        return [dict(m) for m in self.meetings.values() if m.get("pairing_id") == pairing_id]

    def scheduled_meetings(self):
        return [dict(m) for m in self.meetings.values() if m.get("status") == "scheduled"]


class FakeScopes:
    """shared.scopes.ProgrammeScopeReader's reading side: cohort -> programme -> managers."""

    def __init__(self, cohorts=None, managers=None):
        self.cohorts = dict(cohorts or {})
        self.managers = {program: frozenset(ids) for program, ids in (managers or {}).items()}

    def program_of(self, cohort_id):
        return self.cohorts.get(cohort_id)

    def managers_of(self, program_id):
        return self.managers.get(program_id, frozenset())


class FakePreferences:
    def __init__(self, docs=None):
        self.docs = dict(docs or {})

    def get(self, employee_id):
        return copy.deepcopy(self.docs.get(employee_id))


class FakeChannel:
    """Records what it sends; `failures` (exceptions) are raised first, one per send."""

    def __init__(self):
        self.sent: list = []
        self.failures: list = []

    def send(self, message):
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)


class FakeOutcomes:
    def __init__(self):
        self.streams: dict[str, list] = {}

    def append(self, stream, expected_version, events, causation):
        if len(self.streams.get(stream, [])) != expected_version:
            raise ConcurrencyError(stream, expected_version)
        self.streams.setdefault(stream, []).extend(events)

    def append_many(self, appends, causations):
        results = []
        for (stream, expected_version, events, _private), causation in zip(appends, causations):
            try:
                self.append(stream, expected_version, events, causation)
                results.append(len(self.streams[stream]))
            except ConcurrencyError as refused:
                results.append(refused)
        return results

    def events(self):
        return [e for events in self.streams.values() for e in events]


def person(employee_id, **extra):
    return {"_id": employee_id, "employee_id": employee_id, "email": f"{employee_id.lower()}@example.com",
            "display_name": f"Person {employee_id}", "timezone": "UTC", "languages": ["en"], "status": "active",
            **extra}


RENDERER = TemplateRenderer()  # compiled templates, shared by every sender in the tests


class World:
    """One database (fakes) shared by any number of sender replicas."""

    def __init__(self, *, people=("M", "E"), preferences=None, config: DeliveryConfig | None = None, admins=None,
                 pairings=()):
        self.clock = ManualClock()
        self.server_clock = ManualClock(self.clock.now())
        self.deliveries = FakeDeliveries()
        self.directory = FakeDirectory([person(p) for p in people], admins=admins, pairings=pairings)
        self.preferences = FakePreferences(preferences)
        self.scopes = FakeScopes()
        self.outcomes = FakeOutcomes()
        self.config = config or DeliveryConfig(retry_base_s=60, max_attempts=3, claim_ttl_s=30)
        self.email, self.inapp, self.chat = FakeChannel(), FakeChannel(), FakeChannel()

    def sender(self, owner: str, **hooks) -> Sender:
        return Sender(directory=self.directory, preferences=self.preferences, deliveries=self.deliveries,
                      channels={"email": self.email, "chat": self.chat, "inapp": self.inapp},
                      renderer=RENDERER, outcomes=self.outcomes, clock=self.clock,
                      server_clock=self.server_clock, config=self.config, owner=owner, **hooks)

    def pool(self, sender: Sender, **options) -> SenderPool:
        return SenderPool(sender, self.deliveries, self.clock, **options)

    def enqueuer(self, handoff=None) -> Enqueuer:
        return Enqueuer(directory=self.directory, preferences=self.preferences, deliveries=self.deliveries,
                        clock=self.clock, config=self.config, handoff=handoff)


def transient(code="smtp_451"):
    return TransientFailure(code, "try later")
