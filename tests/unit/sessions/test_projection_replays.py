"""The meetings view is a fold of the store that any replay leaves unchanged: applying commits again
(a crash before the checkpoint moved, a second projector after a lease handover) equals applying
them once, and the view always says what the stream says."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from shared.aggregate import Causation
from shared.clock import ManualClock
from shared.config import Settings
from shared.errors import DomainError
from shared.memory import InMemoryEventStore
from services.sessions.adapters.mongo import to_doc
from services.sessions.bootstrap import SessionsContext
from services.sessions.domain.pairing import PairingInfo
from tests.unit.sessions.fakedb import FakeDatabase

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
PAIRING = PairingInfo("p1", "c1", "mentor-1", "mentee-1", "active", activated_at=NOW - timedelta(days=3))
ACTIONS = st.lists(st.tuples(st.sampled_from(["schedule", "reschedule", "cancel", "complete", "no_show"]),
                             st.integers(0, 3)), min_size=1, max_size=10)


def _context(store) -> SessionsContext:
    ctx = SessionsContext(settings=Settings(service_name="sessions"), database=FakeDatabase(), store=store,
                          clock=ManualClock(NOW))
    ctx.database["pairings"].insert_one({"_id": "p1", "cohort_id": "c1", "mentor_id": "mentor-1",
                                         "mentee_id": "mentee-1", "status": "active", "version": 2})
    return ctx


def _run(ctx, actions) -> list[str]:
    ids: list[str] = []
    for action, pick in actions:
        cause = Causation(correlation_id="c", causation_id=str(uuid.uuid4()))
        try:
            if action == "schedule" or not ids:
                outcome = ctx.meetings.schedule(PAIRING, actor_id="mentor-1", organizer_id="mentor-1",
                                                starts_at=ctx.clock.now() + timedelta(hours=1 + pick),
                                                duration_minutes=30, timezone="UTC", agenda=None, causation=cause)
                ids.append(outcome.meeting.meeting_id)
                continue
            meeting = ctx.meetings.load(ids[pick % len(ids)])
            if action == "reschedule":
                ctx.meetings.reschedule(meeting, by="mentee-1", starts_at=ctx.clock.now() + timedelta(hours=2),
                                        duration_minutes=None, causation=cause)
            elif action == "cancel":
                ctx.meetings.cancel(meeting, by="mentor-1", reason="other", causation=cause)
            elif action == "complete":
                ctx.clock.advance(hours=5)
                ctx.meetings.complete(meeting, by="mentor-1", held_at=None, duration_minutes=None, attendees=None,
                                      notes=None, causation=cause)
            else:
                ctx.clock.advance(hours=5)
                ctx.meetings.no_show(meeting, by="mentor-1", absent_ids=["mentee-1"], causation=cause)
        except DomainError:
            pass  # a refused command stores nothing
    return ids


@given(ACTIONS, st.lists(st.integers(1, 40), max_size=4))
@settings(max_examples=25, deadline=None)
def test_replaying_any_suffix_of_the_store_changes_nothing(actions, rewinds):
    ctx = _context(InMemoryEventStore())
    ids = _run(ctx, actions)
    ctx.projector.catch_up()
    live = sorted(ctx.database["meetings"].find({}), key=lambda d: d["_id"])
    assert live == sorted((to_doc(ctx.meetings.load(i)) for i in set(ids)), key=lambda d: d["_id"])
    for rewind in rewinds:  # the checkpoint goes back (lost, or an old lease holder): commits apply again
        ctx.database["projector_checkpoints"].drop()
        ctx.projector.catch_up(until=rewind)
        ctx.projector.catch_up()
    assert sorted(ctx.database["meetings"].find({}), key=lambda d: d["_id"]) == live
