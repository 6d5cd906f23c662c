"""Issue 15: a mentee shares a thank-you with the mentor's manager (HRIS `manager_id`), who reads it;
who may share, what the event carries, erasure and export. In-memory adapters, no servers."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from shared.aggregate import Causation
from shared.clock import ManualClock
from shared.config import Settings
from shared.errors import Invalid
from shared.events.envelope import Envelope
from shared.memory import InMemoryEventStore
from services.feedback.application.export import person_export
from services.feedback.application.projections import people_projection
from services.feedback.bootstrap import FeedbackContext
from tests.helpers import hris_upsert
from tests.unit.sessions.fakedb import FakeDatabase

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=timezone.utc)
NOTE = "You opened the doors I could not find"


def request() -> Causation:
    return Causation(correlation_id="chain-1", causation_id=str(uuid.uuid4()))


def context(store=None, database=None, *, manager: str | None = "B1") -> FeedbackContext:
    database = database if database is not None else FakeDatabase()
    ctx = FeedbackContext(settings=Settings(service_name="feedback", feedback_pseudonym_secret="unit-test-key"),
                          database=database, store=store or InMemoryEventStore(), clock=ManualClock(NOW))
    database["fb_pairings"].insert_one({"_id": "P1", "pairing_id": "P1", "cohort_id": "C1", "mentor_id": "M1",
                                        "mentee_id": "E1", "status": "active",
                                        "activated_at": "2026-01-01T09:00:00.000Z", "version": 2})
    # The HRIS record of the mentor, through the projection the worker runs (newest record wins).
    people = people_projection(database)
    people.apply(Envelope.from_hris(hris_upsert("M1", occurred_at="2026-01-01T00:00:00Z", manager_id="OLD")))
    people.apply(Envelope.from_hris(hris_upsert("M1", occurred_at="2026-01-15T00:00:00Z", manager_id=manager)))
    return ctx


def test_the_mentee_shares_with_the_mentors_current_manager_who_reads_it_and_the_event_carries_no_note():
    ctx = context()
    sent = ctx.commands.send_kudos("P1", "E1", NOTE, request(), share_with_manager=True)
    [event] = ctx.store.load(sent.id).events
    assert event.data["shared_with_id"] == "B1" and event.data["to_id"] == "M1"
    assert NOTE not in json.dumps(event.to_dict())
    ctx.projector.catch_up()
    [shared] = ctx.queries.kudos_shared_with("B1")
    assert (shared["from_id"], shared["to_id"], shared["note"]) == ("E1", "M1", NOTE)
    assert (shared["from_name"], shared["to_name"]) == ("E1", "Person M1")  # names from feedback's HRIS directory
    assert ctx.queries.kudos_for("M1")[0]["note"] == NOTE  # the mentor is thanked as before
    assert ctx.queries.kudos_shared_with("OLD") == [] and ctx.queries.kudos_shared_with("M1") == []


def test_an_unshared_thank_you_reaches_no_manager():
    ctx = context()
    sent = ctx.commands.send_kudos("P1", "E1", NOTE, request())
    assert ctx.store.load(sent.id).events[0].data["shared_with_id"] is None
    ctx.projector.catch_up()
    assert ctx.queries.kudos_shared_with("B1") == []


def test_only_the_mentee_may_share_and_a_mentor_without_a_manager_is_refused_naming_the_field():
    ctx = context()
    with pytest.raises(Invalid) as refused:
        ctx.commands.send_kudos("P1", "M1", "thanks for the effort", request(), share_with_manager=True)
    assert (refused.value.code, refused.value.field) == ("only_the_mentee_shares", "share_with_manager")
    without = context(manager=None)
    with pytest.raises(Invalid) as no_manager:
        without.commands.send_kudos("P1", "E1", NOTE, request(), share_with_manager=True)
    assert (no_manager.value.code, no_manager.value.field) == ("no_manager", "share_with_manager")
    assert without.store.current_position() == 0  # nothing stored: the mentee may send it unshared


def test_export_gives_the_manager_what_was_shared_with_them_and_the_mentee_whom_they_shared_with():
    ctx = context()
    ctx.commands.send_kudos("P1", "E1", NOTE, request(), share_with_manager=True)
    ctx.projector.catch_up()
    manager = person_export(ctx, "B1")
    [shared] = manager["data"]["kudos_shared_with_them"]
    assert (shared["from_id"], shared["to_id"], shared["note"]) == ("E1", "M1", NOTE)
    assert [e["data"]["shared_with_id"] for e in manager["events"]] == ["B1"]
    assert NOTE not in json.dumps(manager["events"])  # the events without the private part
    mentee = person_export(ctx, "E1")
    assert mentee["data"]["kudos_sent"][0]["shared_with_id"] == "B1"


def test_erasing_the_manager_removes_their_list_and_their_manager_link_also_in_a_rebuild():
    store = InMemoryEventStore()
    ctx = context(store)
    ctx.commands.send_kudos("P1", "E1", NOTE, request(), share_with_manager=True)
    ctx.projector.catch_up()
    assert ctx.eraser.erase("B1", request(), source="matching") is True
    assert ctx.queries.kudos_shared_with("B1") == []
    assert ctx.queries.kudos_for("M1")[0]["note"] == NOTE  # the mentor keeps the thank-you

    rebuilt = FakeDatabase()
    rebuilt["erasures"].insert_one(ctx.database["erasures"].find_one({"_id": "B1"}))
    again = context(store, rebuilt)
    again.projector.catch_up()
    assert again.queries.kudos_shared_with("B1") == [] and rebuilt["fb_kudos_shared"].find({}) == []


def test_erasing_the_mentor_erases_their_manager_link_and_the_note_the_manager_could_read():
    ctx = context()
    ctx.commands.send_kudos("P1", "E1", NOTE, request(), share_with_manager=True)
    ctx.projector.catch_up()
    assert ctx.eraser.erase("M1", request(), source="matching") is True
    assert ctx.models.manager_of("M1") is None
    assert ctx.queries.kudos_shared_with("B1") == []
    assert NOTE not in json.dumps(ctx.database["fb_kudos"].find({}), default=str)
