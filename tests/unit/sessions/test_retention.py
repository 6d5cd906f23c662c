"""Retention of meeting texts (README "Privacy"): agendas, notes and dispute reasons are forgotten
`retention_private_text_days` after the pairing ended; the meetings themselves stay."""
from __future__ import annotations

from datetime import timedelta

from shared.clock import rfc3339
from shared.memory import InMemoryEventStore
from tests.unit.sessions.test_application import CAUSE, NOW, context, schedule


def _held_meeting_of_an_ended_pairing(ctx):
    outcome = schedule(ctx, agenda="Career plan")
    ctx.clock.advance(days=3)
    ctx.meetings.complete(outcome.meeting, by="mentee-1", held_at=None, duration_minutes=None, attendees=None,
                          notes="She wants to lead a team", causation=CAUSE)
    ctx.projector.catch_up()
    ctx.database["pairings"].update_one({"_id": "p1"}, {"$set": {"status": "ended", "ended_at": rfc3339(ctx.clock.now()),
                                                                 "version": 3}})
    return outcome.meeting.meeting_id


def test_meeting_texts_stay_until_the_retention_period_after_the_pairing_ended_then_go():
    ctx = context()
    meeting_id = _held_meeting_of_an_ended_pairing(ctx)
    ctx.clock.advance(days=364)
    assert ctx.retention.run() == 0
    assert ctx.meetings.texts(meeting_id)["notes"] == "She wants to lead a team"

    ctx.clock.advance(days=2)
    assert ctx.retention.run() == 1
    assert ctx.meetings.texts(meeting_id) == {}
    meeting = ctx.meetings.load(meeting_id)  # the stream still loads and folds
    assert meeting.status == "held"
    assert ctx.retention.run() == 0  # done once


def test_a_rebuild_after_the_purge_keeps_the_meetings_and_brings_no_text_back():
    store = InMemoryEventStore()
    ctx = context(store=store)
    meeting_id = _held_meeting_of_an_ended_pairing(ctx)
    ctx.clock.set(NOW + timedelta(days=400))
    ctx.retention.run()
    rebuilt = context(store=store)
    rebuilt.projector.catch_up()
    [doc] = rebuilt.meetings_view.for_pairing("p1")
    assert doc["_id"] == meeting_id and doc["status"] == "held"
    assert all(not texts for commit in store.read_all() for texts in commit.private.values())


def test_the_retention_period_is_a_setting():
    ctx = context()
    meeting_id = _held_meeting_of_an_ended_pairing(ctx)
    ctx.retention.days = 30  # RETENTION_PRIVATE_TEXT_DAYS=30
    ctx.clock.advance(days=31)
    assert ctx.retention.run() == 1
    assert ctx.meetings.texts(meeting_id) == {}
