"""Erasure progress across the four services (issue 13; application/erasure_progress.py) on in-memory
fakes: each service's `PersonErased` in any order and however often delivered, the `complete` and
`overdue` flags, the list newest first across replays, and the overdue watch's gauges."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from shared.aggregate import Causation
from shared.clock import ManualClock, rfc3339
from shared.erasure import PersonEraser
from shared.events.catalog import default_registry
from shared.events.envelope import new_event
from shared.memory import InMemoryEventStore
from shared.metrics import ERASURES_OVERDUE, ERASURES_PENDING
from services.matching.adapters.erasure_progress import HEAD, LIST, PAGE, ErasureListIndex
from services.matching.application.erasure import ErasureCommands
from services.matching.application.erasure_progress import (
    ErasureList, ErasureProgress, ErasureStatus, ErasureWatch,
)
from tests.unit.matching.fakes import MemoryDatabase, SyncProjector

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class World:
    def __init__(self):
        self.store, self.database, self.clock = InMemoryEventStore(), MemoryDatabase(), ManualClock(START)
        self.commands = ErasureCommands(self.store, default_registry(), self.clock)
        self.listing = SyncProjector(self.store, [ErasureList(self.database)])
        self.progress = ErasureProgress(self.database)
        self.status = ErasureStatus(self.database, self.commands.status, self.clock, overdue_s=60)
        self.matching = PersonEraser(service="matching", store=self.store, registry=default_registry(),
                                     database=self.database, clock=self.clock, erase=lambda person, at: None)

    def request(self, employee_id: str) -> dict:
        found = self.commands.request(employee_id, source="api", requested_at=None, requested_by="A000001",
                                      causation=Causation(correlation_id="r", causation_id=str(uuid.uuid4())))
        self.listing.catch_up()
        return found

    def erased_in_matching(self, employee_id: str) -> None:
        self.matching.erase(employee_id, Causation(correlation_id="r", causation_id=None), source="api",
                            expected_version=1)

    def erased_in(self, service: str, employee_id: str):
        """What the consumer hands the projection: that service's PersonErased from its topic."""
        envelope = new_event(event_type="PersonErased", schema_version=1, producer=service, aggregate_type="erasure",
                             aggregate_id=f"erasure|{employee_id}", aggregate_version=1, correlation_id="r", causation_id=None,
                             data={"employee_id": employee_id, "service": service, "at": rfc3339(self.clock.now())})
        self.progress.erased(envelope)
        return envelope


def parts(found: dict) -> dict:
    return {part["service"]: part["status"] for part in found["services"]}


def test_each_service_completes_in_any_order_once_and_the_erasure_is_complete_when_all_four_have():
    world = World()
    world.request("E1")
    first = world.status.of("E1")
    assert parts(first) == dict.fromkeys(("matching", "sessions", "feedback", "notifications"), "pending")
    assert (first["complete"], first["overdue"]) == (False, False)

    world.clock.advance(seconds=5)
    late = world.erased_in("notifications", "E1")  # notifications before matching: topics are independent
    world.progress.erased(late)  # a redelivery
    world.clock.advance(seconds=5)
    world.progress.erased(late)  # ... even later: the first time stays
    world.erased_in("feedback", "E1")
    found = world.status.of("E1")
    assert parts(found) == {"matching": "pending", "sessions": "pending", "feedback": "erased",
                            "notifications": "erased"}
    assert next(p for p in found["services"] if p["service"] == "notifications")["erased_at"] == \
        "2026-03-02T09:00:05.000Z"

    world.clock.advance(seconds=61)  # past the minute: visible as overdue
    assert world.status.of("E1")["overdue"] is True
    world.erased_in_matching("E1")
    world.erased_in("sessions", "E1")
    done = world.status.of("E1")
    assert set(parts(done).values()) == {"erased"} and (done["complete"], done["overdue"]) == (True, False)
    assert world.database["erasure_progress"].docs.keys() == {"E1|notifications", "E1|feedback", "E1|sessions"}
    # only ids and times in the answer
    assert set(done) == {"employee_id", "status", "source", "requested_at", "requested_by", "erased_at",
                         "services", "complete", "overdue"}
    assert world.status.of("E2") is None


def test_the_list_is_newest_first_in_pages_and_a_replay_or_a_crash_between_its_writes_changes_nothing():
    world = World()
    people = [f"E{i:03d}" for i in range(PAGE + 3)]  # across two page documents
    for person in people:
        world.request(person)
        world.clock.advance(seconds=1)
    first = world.status.page(None, 20)
    assert [item["employee_id"] for item in first["items"]] == people[::-1][:20]
    second = world.status.page(first["next"], 40)
    assert [item["employee_id"] for item in second["items"]] == people[::-1][20:]
    assert second["next"] is None and first["items"][0]["requested_by"] == "A000001"

    snapshot = world.database.snapshot(LIST)
    world.listing.rewind()  # a replay of every request
    world.listing.catch_up()
    assert world.database.snapshot(LIST) == snapshot

    # a crash after the newest entry's page was written, before its head: the replay moves the head only
    head = world.database[LIST].docs[HEAD]
    [before_last] = ErasureListIndex(world.database).entries(head["count"] - 2, head["count"] - 1)
    world.database[LIST].docs[HEAD] = {**head, "count": head["count"] - 1, "version": before_last["order"]}
    world.listing.rewind()
    world.listing.catch_up()
    assert world.database.snapshot(LIST) == snapshot
    assert world.request(people[0])["employee_id"] == people[0]  # asking again lists nobody twice
    assert world.database.snapshot(LIST) == snapshot


def test_the_watch_counts_what_each_service_still_owes_and_forgets_what_completed():
    world = World()
    for person in ("E1", "E2"):
        world.request(person)
        world.erased_in_matching(person)
    watch = ErasureWatch(world.status)
    for service in ("sessions", "feedback"):
        world.erased_in(service, "E1")
    assert watch.sweep()["notifications"] == (2, 0)
    world.clock.advance(seconds=61)
    counts = watch.sweep()
    assert (counts["notifications"], counts["sessions"], counts["matching"]) == ((2, 2), (1, 1), (0, 0))
    assert ERASURES_OVERDUE.labels("notifications")._value.get() == 2
    assert ERASURES_PENDING.labels("sessions")._value.get() == 1

    world.erased_in("notifications", "E1")  # E1 is complete now: the watch drops it for good
    watch.sweep()
    assert [entry["employee_id"] for entry in world.status.watch.get()["pending"]] == ["E2"]
    items = {item["employee_id"]: item["complete"] for item in world.status.page(None, 10)["items"]}
    assert items == {"E1": True, "E2": False}
    for service in ("sessions", "feedback", "notifications"):
        world.erased_in(service, "E2")
    assert watch.sweep()["notifications"] == (0, 0) and world.status.watch.get() == {
        "_id": "watch", "scanned_to": 2, "pending": []}
    assert ERASURES_OVERDUE.labels("notifications")._value.get() == 0
