"""Retention of feedback's private words (README "Privacy"): comments and kudos notes are forgotten
`retention_private_text_days` after the pairing ended, or completed without the pair staying in
touch (shared/retention.py); ratings and counts stay."""
from __future__ import annotations

from datetime import timedelta

from shared.clock import rfc3339
from shared.events.catalog.matching import PAIRING_COMPLETED, STAY_IN_TOUCH_CHOSEN
from shared.events.envelope import new_event
from shared.memory import InMemoryEventStore
from services.feedback.application.projections import ProgrammeView
from services.feedback.domain.rules import GiveFeedback
from tests.helpers import apply_consumed
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


def _pairing_event(ctx, event_type: str, version: int, at, **data) -> None:
    """What ProgrammeView does with matching's pairing event (as the consumer delivers it)."""
    envelope = new_event(event_type=event_type, schema_version=1, producer="matching", aggregate_type="pairing",
                         aggregate_id="P1", aggregate_version=version, correlation_id="x", causation_id=None,
                         occurred_at=at, data={"pairing_id": "P1", "cohort_id": "C1", "mentor_id": "M1",
                                               "mentee_id": "E1", **data})
    apply_consumed(ProgrammeView(ctx.database), envelope)


def test_a_completed_pairings_words_go_a_period_after_the_completion_unless_the_pair_stays_in_touch():
    ctx = context()
    feedback = ctx.commands.give_feedback(GiveFeedback("P1", "E1", 2, meeting_id="MT1", comment="kept checking his phone"),
                                          request())
    ctx.projector.catch_up()
    completed_at = NOW + timedelta(days=10)
    _pairing_event(ctx, PAIRING_COMPLETED, 3, completed_at, completed_at=rfc3339(completed_at))
    _pairing_event(ctx, STAY_IN_TOUCH_CHOSEN, 4, completed_at, employee_id="E1", role="mentee",
                   stay_in_touch=True, staying_in_touch=False)
    _pairing_event(ctx, STAY_IN_TOUCH_CHOSEN, 5, completed_at, employee_id="M1", role="mentor",
                   stay_in_touch=True, staying_in_touch=True)
    ctx.clock.set(completed_at + timedelta(days=600))
    assert ctx.retention.run() == 0  # staying in touch: kept
    assert ctx.models.comment(feedback.id)["comment"] == "kept checking his phone"

    parted_at = ctx.clock.now()
    _pairing_event(ctx, STAY_IN_TOUCH_CHOSEN, 6, parted_at, employee_id="E1", role="mentee",
                   stay_in_touch=False, staying_in_touch=False)
    ctx.clock.set(parted_at + timedelta(days=364))
    assert ctx.retention.run() == 0
    ctx.clock.set(parted_at + timedelta(days=366))
    assert ctx.retention.run() == 1
    assert ctx.models.comment(feedback.id) is None
    assert [f["rating"] for f in ctx.models.feedback.find({})] == [2]


def test_a_completed_pair_nobody_answered_for_loses_the_words_a_period_after_the_completion():
    ctx = context()
    kudos = ctx.commands.send_kudos("P1", "E1", "Thanks for the intro", request())
    ctx.projector.catch_up()
    completed_at = NOW + timedelta(days=10)
    _pairing_event(ctx, PAIRING_COMPLETED, 3, completed_at, completed_at=rfc3339(completed_at))
    ctx.clock.set(completed_at + timedelta(days=366))
    assert ctx.retention.run() == 1
    assert [k["note"] for k in ctx.models.kudos_to("M1")] == [None]
    assert all("note" not in part for part in ctx.store.load(kudos.id).private.values())
