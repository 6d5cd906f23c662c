"""Issue 15 in sessions: a completed pairing (its cohort closed) is off the at-risk clock; its
meetings are kept while the pair decide, new ones need both to stay in touch, and once a party
says no its meetings still to come are cancelled as an ended pairing's are."""
from __future__ import annotations

from datetime import timedelta

import pytest

from shared.errors import Conflict
from shared.events.catalog.matching import PAIRING_COMPLETED, STAY_IN_TOUCH_CHOSEN
from shared.events.catalog.sessions import MEETING_CANCELLED, MEETING_SCHEDULED
from shared.events.envelope import new_event
from tests.unit.sessions.test_application import NOW, context, request, schedule

PAIR = {"pairing_id": "p1", "cohort_id": "c1", "mentor_id": "mentor-1", "mentee_id": "mentee-1"}


def _matching_event(event_type: str, version: int, hours: int, **data):
    return new_event(event_type=event_type, schema_version=1, producer="matching", aggregate_type="pairing",
                     aggregate_id="p1", aggregate_version=version, correlation_id="x", causation_id=None,
                     occurred_at=NOW + timedelta(hours=hours), data={**PAIR, **data})


def _deliver(ctx, envelope) -> None:
    """What the consumer runner does: the views first, then the policy that reads them."""
    for projection in ctx.projections():
        handler = projection.handlers().get(envelope.event_type)
        if handler is not None and projection.name in ("sessions-pairings", "sessions-cancel-meetings-of-ended-pairings"):
            handler(envelope)


def _choice(version: int, hours: int, role: str, stay: bool, both: bool):
    return _matching_event(STAY_IN_TOUCH_CHOSEN, version, hours, employee_id=PAIR[f"{role}_id"], role=role,
                           stay_in_touch=stay, staying_in_touch=both)


def _schedule_now(ctx, days: int):
    return ctx.meetings.schedule(ctx.pairings.get("p1"), actor_id="mentor-1", organizer_id="mentor-1",
                                 starts_at=NOW + timedelta(days=days), duration_minutes=30, timezone="UTC",
                                 agenda=None, causation=request())


def _types(ctx, meeting) -> list[str]:
    return [e.event_type for e in ctx.store.load(meeting.meeting.meeting_id).events]


def test_completion_stops_the_risk_clock_keeps_meetings_and_only_a_pair_staying_in_touch_meets_anew():
    ctx = context()
    kept = schedule(ctx, days=3)
    ctx.projector.catch_up()
    _deliver(ctx, _matching_event(PAIRING_COMPLETED, 3, 1, completed_at="2026-03-02T10:00:00Z"))
    ctx.projector.catch_up()
    assert ctx.risk.check_all(NOW + timedelta(hours=2)) == {}  # no longer active: no PairingAtRisk
    assert ctx.store.load("p1").events == []
    assert _types(ctx, kept) == [MEETING_SCHEDULED]  # kept while the pair decide
    assert ctx.risk.sweep_ended_pairings(NOW + timedelta(hours=2)) == 0
    with pytest.raises(Conflict):  # undecided: no new meetings
        _schedule_now(ctx, 5)

    _deliver(ctx, _choice(4, 2, "mentee", True, False))
    _deliver(ctx, _choice(5, 3, "mentor", True, True))
    assert _schedule_now(ctx, 6).meeting.status == "scheduled"  # both said yes: they meet on

    _deliver(ctx, _choice(6, 4, "mentor", False, False))  # the mentor changes their mind
    ctx.projector.catch_up()
    assert _types(ctx, kept) == [MEETING_SCHEDULED, MEETING_CANCELLED]
    assert ctx.risk.sweep_ended_pairings(NOW + timedelta(hours=5)) == 1  # the one the view had not seen yet
    assert ctx.risk.sweep_ended_pairings(NOW + timedelta(hours=5)) == 0
    with pytest.raises(Conflict):
        _schedule_now(ctx, 7)


def test_a_late_no_after_both_said_yes_again_cancels_nothing():
    ctx = context()
    kept = schedule(ctx, days=3)
    ctx.projector.catch_up()
    no = _choice(4, 2, "mentor", False, False)
    for envelope in (_matching_event(PAIRING_COMPLETED, 3, 1, completed_at="2026-03-02T10:00:00Z"),
                     _choice(5, 3, "mentee", True, False)):
        _deliver(ctx, envelope)
    _deliver(ctx, _choice(6, 4, "mentor", True, True))
    policy = next(p for p in ctx.projections() if p.name == "sessions-cancel-meetings-of-ended-pairings")
    policy.handlers()[STAY_IN_TOUCH_CHOSEN](no)  # redelivered after the pair chose yes
    assert _types(ctx, kept) == [MEETING_SCHEDULED]
