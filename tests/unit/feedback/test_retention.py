"""Retention of feedback's private words (README "Privacy"): comments and kudos notes are forgotten
`retention_private_text_days` after the pairing ended; ratings and counts stay."""
from __future__ import annotations

from datetime import timedelta

from shared.memory import InMemoryEventStore
from services.feedback.domain.rules import GiveFeedback
from tests.unit.feedback.test_application import NOW, context, request


def _words_of_an_ended_pairing(ctx):
    feedback = ctx.commands.give_feedback(GiveFeedback("P1", "E1", 2, meeting_id="MT1", comment="kept checking his phone"),
                                          request())
    kudos = ctx.commands.send_kudos("P1", "E1", "Thanks for the intro", request())
    ctx.projector.catch_up()
    ctx.database["fb_pairings"].update_one({"_id": "P1"}, {"$set": {"status": "ended",
                                                                    "ended_at": "2026-02-02T09:00:00.000Z"}})
    return feedback.id, kudos.id


def test_comments_and_kudos_notes_go_after_the_retention_period_and_the_ratings_stay():
    ctx = context()
    feedback_id, kudos_id = _words_of_an_ended_pairing(ctx)
    ctx.clock.set(NOW + timedelta(days=300))
    assert ctx.retention.run() == 0
    assert ctx.models.comment(feedback_id)["comment"] == "kept checking his phone"

    ctx.clock.set(NOW + timedelta(days=367))
    assert ctx.retention.run() == 1
    assert ctx.models.comment(feedback_id) is None
    assert [k["note"] for k in ctx.models.kudos_to("M1")] == [None]
    assert [f["rating"] for f in ctx.models.feedback.find({})] == [2]  # the rating stays
    assert ctx.store.load(feedback_id).private == {ctx.store.load(feedback_id).events[0].event_id: {"from_id": "E1"}}


def test_a_rebuild_after_the_purge_brings_no_words_back():
    store = InMemoryEventStore()
    ctx = context(store=store)
    feedback_id, _ = _words_of_an_ended_pairing(ctx)
    ctx.clock.set(NOW + timedelta(days=367))
    ctx.retention.run()
    rebuilt = context(store=store)
    rebuilt.projector.catch_up()
    assert rebuilt.models.comment(feedback_id) is None
    assert [k["note"] for k in rebuilt.models.kudos_to("M1")] == [None]
    assert [f["rating"] for f in rebuilt.models.feedback.find({})] == [2]
