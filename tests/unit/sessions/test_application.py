"""Sessions command handlers, own-stream projections and policies on in-memory adapters (no servers).

The wiring is the real `SessionsContext`; only the database (tests/unit/sessions/fakedb.py) and
the event store (shared.memory) are in memory.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from shared.aggregate import Causation
from shared.clock import ManualClock, rfc3339
from shared.config import Settings
from shared.errors import Conflict, Forbidden, NotFound
from shared.events.catalog import default_registry
from shared.events.catalog.matching import PAIRING_ENDED
from shared.events.catalog.sessions import (
    MEETING_CANCELLED, MEETING_HELD, MEETING_SCHEDULED, PAIRING_AT_RISK, PAIRING_BACK_ON_TRACK,
)
from shared.events.envelope import Envelope, new_event
from shared.memory import InMemoryEventStore
from services.sessions.adapters.mongo import to_doc
from services.sessions.adapters.roster import RosterPairs
from tests.sessions_scanning_report import cohort_report
from services.sessions.bootstrap import SessionsContext
from services.sessions.domain.pairing import PairingInfo
from services.sessions.domain.roster import PairsPart
from tests.unit.sessions.fakedb import FakeDatabase

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
CAUSE = Causation(correlation_id="req-1", causation_id=None)
PAIRING = PairingInfo("p1", "c1", "mentor-1", "mentee-1", "active", activated_at=NOW - timedelta(days=30))


def context(store=None, database=None) -> SessionsContext:
    ctx = SessionsContext(settings=Settings(service_name="sessions"), database=database or FakeDatabase(),
                          store=store or InMemoryEventStore(), clock=ManualClock(NOW))
    ctx.database["pairings"].insert_one({
        "_id": "p1", "cohort_id": "c1", "mentor_id": "mentor-1", "mentee_id": "mentee-1", "status": "active",
        "activated_at": rfc3339(PAIRING.activated_at), "ended_at": None, "version": 2})
    ctx.database["cohorts"].insert_one({"_id": "c1", "name": "Spring", "meeting_cadence_days": 7, "version": 1})
    roster = PairsPart()  # what matching's PairingActivated leaves in the engagement roster (partition 0)
    roster.apply("p1", 2, "active", "mentor-1", "mentee-1", rfc3339(PAIRING.activated_at))
    RosterPairs(ctx.database).save("c1", 0, 1, roster, exists=False)
    return ctx


def request() -> Causation:
    return Causation(correlation_id="chain-1", causation_id=str(uuid.uuid4()))  # one chain, many requests


def schedule(ctx, days=2, agenda=None, actor="mentor-1", causation=None):
    return ctx.meetings.schedule(PAIRING, actor_id=actor, organizer_id="mentor-1", starts_at=NOW + timedelta(days=days),
                                 duration_minutes=45, timezone="UTC", agenda=agenda, causation=causation or request())


def views(ctx) -> dict:
    return {name: sorted(ctx.database[name].find({}), key=lambda d: d["_id"]) for name in ("meetings", "engagement")}


def test_agenda_and_notes_are_stored_in_the_commit_never_in_the_event():
    ctx = context()
    outcome = schedule(ctx, agenda="Career plan")
    assert outcome.position > 0
    meeting_id = outcome.meeting.meeting_id
    ctx.clock.advance(days=3)
    held = ctx.meetings.complete(outcome.meeting, by="mentee-1", held_at=None, duration_minutes=None, attendees=None,
                                 notes="She wants to lead a team", causation=CAUSE)
    assert held.meeting.status == "held"
    stream = ctx.store.load(meeting_id)
    published = json.dumps([e.to_dict() for e in stream.events])
    assert "Career plan" not in published and "lead a team" not in published
    assert ctx.meetings.texts(meeting_id) == {"agenda": "Career plan", "notes": "She wants to lead a team",
                                              "notes_by": "mentee-1"}


def test_a_retried_request_gets_its_first_answer_not_a_second_meeting_or_a_refusal():
    ctx = context()
    first_attempt = request()
    first = schedule(ctx, agenda="Career plan", causation=first_attempt)
    retry = schedule(ctx, agenda="Career plan", causation=first_attempt)  # the answer was lost; the client retries
    assert retry.meeting.meeting_id == first.meeting.meeting_id and retry.position == 0
    assert ctx.store.load(first.meeting.meeting_id).version == 1
    ctx.clock.advance(days=3)
    done = ctx.meetings.complete(first.meeting, by="mentor-1", held_at=None, duration_minutes=None, attendees=None,
                                 notes="Reading list", causation=CAUSE)
    again = ctx.meetings.complete(done.meeting, by="mentor-1", held_at=None, duration_minutes=None, attendees=None,
                                  notes="Reading list", causation=CAUSE)
    assert again.meeting.status == "held" and again.position == 0
    assert ctx.store.load(first.meeting.meeting_id).version == 2
    with pytest.raises(Conflict):  # a different completion of a held meeting is still refused
        ctx.meetings.complete(done.meeting, by="mentor-1", held_at=None, duration_minutes=20, attendees=None,
                              notes=None, causation=CAUSE)


def test_a_crash_after_the_append_loses_no_text_and_a_refused_append_stores_none():
    ctx = context()
    outcome = schedule(ctx, agenda="Career plan")
    # "crash" right after the append: nothing else ran (no view, no second write); a new process reads it all
    fresh = context(store=ctx.store)
    assert fresh.meetings.texts(outcome.meeting.meeting_id)["agenda"] == "Career plan"
    # a racing writer wins: the loser's notes are not stored anywhere, and its retry is accepted
    ctx.clock.advance(days=3)
    stale = outcome.meeting
    ctx.meetings.cancel(stale, by="mentor-1", reason="conflict", causation=CAUSE)
    from shared.eventstore import ConcurrencyError

    with pytest.raises(ConcurrencyError):
        ctx.meetings.complete(stale, by="mentor-1", held_at=None, duration_minutes=None, attendees=None,
                              notes="lost race", causation=CAUSE)
    assert "notes" not in ctx.meetings.texts(stale.meeting_id)


def test_the_meetings_view_is_a_projection_of_the_store_and_a_rebuild_equals_it():
    ctx = context()
    first = schedule(ctx, agenda="a")
    second = schedule(ctx, days=4)
    ctx.meetings.reschedule(second.meeting, by="mentee-1", starts_at=NOW + timedelta(days=5), duration_minutes=60,
                            causation=CAUSE)
    ctx.clock.advance(days=3)
    ctx.meetings.complete(first.meeting, by="mentor-1", held_at=None, duration_minutes=30, attendees=["mentor-1"],
                          notes=None, causation=CAUSE)
    assert ctx.database["meetings"].find({}) == []  # no request handler wrote the view
    ctx.projector.catch_up()
    for meeting_id in (first.meeting.meeting_id, second.meeting.meeting_id):
        assert ctx.meetings_view.get(meeting_id) == to_doc(ctx.meetings.load(meeting_id))
    assert ctx.projector.wait_for(ctx.store.current_position(), timeout_s=0.1)
    ctx.projector.catch_up()  # nothing new: nothing changes
    live = views(ctx)

    rebuilt = context(store=ctx.store)  # an empty database, the same store
    rebuilt.projector.catch_up()
    assert views(rebuilt) == live


def test_ending_a_pairing_cancels_its_future_meetings_once():
    ctx = context()
    future = schedule(ctx, days=3)
    ctx.clock.advance(hours=1)
    ctx.projector.catch_up()
    ended = new_event(event_type=PAIRING_ENDED, schema_version=1, producer="matching", aggregate_type="pairing",
                      aggregate_id="p1", aggregate_version=3, correlation_id="x", causation_id=None,
                      occurred_at=NOW + timedelta(hours=1),
                      data={"pairing_id": "p1", "cohort_id": "c1", "mentor_id": "mentor-1", "mentee_id": "mentee-1",
                            "reason": "by_admin", "ended_by": "admin-1"})
    runner = {p.name: p for p in ctx.projections()}
    policy = runner["sessions-cancel-meetings-of-ended-pairings"]
    runner["sessions-pairings"].handlers()[PAIRING_ENDED](ended)
    policy.handlers()[PAIRING_ENDED](ended)
    ctx.projector.catch_up()  # (the worker's store projector)
    policy.handlers()[PAIRING_ENDED](ended)  # redelivered
    types = [e.event_type for e in ctx.store.load(future.meeting.meeting_id).events]
    assert types == [MEETING_SCHEDULED, MEETING_CANCELLED]
    assert ctx.store.load(future.meeting.meeting_id).events[-1].causation_id == ended.event_id
    assert ctx.risk.sweep_ended_pairings() == 0  # nothing left for the sweep
    with pytest.raises(Conflict):  # the ended pairing takes no new meetings
        ctx.meetings.schedule(
            ctx.pairings.get("p1"), actor_id="mentor-1", organizer_id="mentor-1", starts_at=NOW + timedelta(days=5),
            duration_minutes=30, timezone="UTC", agenda=None, causation=request())


def test_the_sweep_cancels_what_a_lagging_view_hid_from_the_policy():
    ctx = context()
    hidden = schedule(ctx, days=3)  # not yet in the meetings view when the pairing ends
    ctx.database["pairings"].find_one_and_update({"_id": "p1"}, {"$set": {
        "status": "ended", "ended_at": rfc3339(NOW + timedelta(hours=1)), "version": 3}})
    ctx.projector.catch_up()
    assert ctx.risk.sweep_ended_pairings(NOW + timedelta(hours=2)) == 1
    assert ctx.risk.sweep_ended_pairings(NOW + timedelta(hours=2)) == 0
    assert ctx.meetings.load(hidden.meeting.meeting_id).status == "cancelled"


def test_risk_is_announced_once_and_a_held_meeting_brings_the_pair_back_on_track():
    ctx = context()
    assert ctx.risk.check_all(NOW) == {"c1": 1}  # activated 30 days ago, cadence 7, nothing held
    assert ctx.risk.check_all(NOW + timedelta(hours=1)) == {"c1": 1}  # view not caught up: decided on the stream
    ctx.projector.catch_up()
    assert ctx.risk.check_all(NOW + timedelta(hours=2)) == {"c1": 1}
    assert [e.event_type for e in ctx.store.load("p1").events] == [PAIRING_AT_RISK]
    meeting = ctx.meetings.schedule(PAIRING, actor_id="admin-1", organizer_id="mentor-1",
                                    starts_at=NOW + timedelta(hours=3), duration_minutes=60, timezone="UTC",
                                    agenda=None, causation=request()).meeting
    ctx.clock.advance(hours=5)
    ctx.meetings.complete(meeting, by="mentor-1", held_at=None, duration_minutes=None, attendees=None, notes=None,
                          causation=CAUSE)
    ctx.projector.catch_up()  # the policy runs in the store projector, after the views
    ctx.projector.catch_up()
    assert [e.event_type for e in ctx.store.load("p1").events] == [PAIRING_AT_RISK, PAIRING_BACK_ON_TRACK]
    assert ctx.engagement_view.at_risk("p1") is False
    assert ctx.risk.check_all(ctx.clock.now()) == {"c1": 0}


def test_an_unknown_meeting_is_not_found():
    with pytest.raises(NotFound):
        context().meetings.load("nope")


# -- schema evolution: MeetingScheduled v1 (stored before v2) on the write and the read path ----

def _v1_scheduled(meeting_id: str) -> Envelope:
    data = {"meeting_id": meeting_id, "pairing_id": "p1", "cohort_id": "c1", "mentor_id": "mentor-1",
            "mentee_id": "mentee-1", "organizer_id": "mentee-1", "starts_at": rfc3339(NOW + timedelta(days=1)),
            "duration_minutes": 30, "timezone": "UTC"}
    return Envelope(event_id=str(uuid.uuid4()), event_type=MEETING_SCHEDULED, schema_version=1,
                    occurred_at=rfc3339(NOW), producer="sessions", aggregate_type="meeting", aggregate_id=meeting_id,
                    aggregate_version=1, correlation_id="old", causation_id=None, data=data)


def test_a_stored_v1_meeting_loads_as_v2_and_commands_and_projections_work_on_it():
    ctx = context()
    old = _v1_scheduled("m-old")
    ctx.store.append("m-old", 0, [old])
    meeting = ctx.meetings.load("m-old")  # the write path: AggregateStore.load upcasts
    assert meeting.status == "scheduled" and meeting.scheduled_by is None and meeting.organizer_id == "mentee-1"
    moved = ctx.meetings.reschedule(meeting, by="mentor-1", starts_at=NOW + timedelta(days=2), duration_minutes=None,
                                    causation=CAUSE)
    assert moved.meeting.version == 2
    ctx.projector.catch_up()  # the read path of own-stream views: upcast too
    view = ctx.meetings_view.get("m-old")
    assert view["scheduled_by"] is None and view["version"] == 2 and view["sequence"] == 1
    new = schedule(ctx, actor="admin-1").meeting
    assert ctx.store.load(new.meeting_id).events[0].schema_version == 2
    assert ctx.meetings.load(new.meeting_id).scheduled_by == "admin-1"


def test_consumers_decode_a_v1_record_as_v2():
    registry = default_registry()
    decoded = registry.decode(_v1_scheduled("m-old").to_json())
    assert decoded.schema_version == 2 and decoded.data["actor_id"] is None
    assert decoded.data["organizer_id"] == "mentee-1"
    current = schedule(context()).meeting
    assert registry.current_version(MEETING_SCHEDULED) == 2 and current.scheduled_by == "mentor-1"
    assert registry.current_version(MEETING_HELD) == 1  # the other meeting events stay at v1


# -- disputes: the other party contests a held or no-show record -------------------------------

def _held(ctx, by="mentor-1"):
    meeting = ctx.meetings.schedule(PAIRING, actor_id=by, organizer_id="mentor-1", starts_at=NOW + timedelta(hours=1),
                                    duration_minutes=60, timezone="UTC", agenda=None, causation=request()).meeting
    ctx.clock.advance(hours=3)
    return ctx.meetings.complete(meeting, by=by, held_at=None, duration_minutes=None, attendees=None, notes=None,
                                 causation=request()).meeting


def test_only_the_other_party_disputes_a_record_once_and_the_reason_stays_private():
    ctx = context()
    held = _held(ctx, by="mentor-1")
    assert held.recorded_by == "mentor-1"
    with pytest.raises(Forbidden):
        ctx.meetings.dispute(held, by="admin-1", reason="x", causation=request())
    with pytest.raises(Conflict) as own:
        ctx.meetings.dispute(held, by="mentor-1", reason="x", causation=request())
    assert own.value.code == "recorder_cannot_dispute"
    disputed = ctx.meetings.dispute(held, by="mentee-1", reason="We never met", causation=request()).meeting
    assert (disputed.status, disputed.disputed_by, disputed.disputed_at) == ("held", "mentee-1", rfc3339(ctx.clock.now()))
    again = ctx.meetings.dispute(disputed, by="mentee-1", reason="We never met", causation=request())
    assert again.position == 0  # a retry: the same answer, nothing stored
    with pytest.raises(Conflict) as twice:
        ctx.meetings.dispute(disputed, by="mentee-1", reason="another reason", causation=request())
    assert twice.value.code == "already_disputed"
    stream = ctx.store.load(held.meeting_id)
    [event] = [e for e in stream.events if e.event_type == "MeetingDisputed"]
    assert event.data["disputed_status"] == "held" and event.data["recorded_by"] == "mentor-1"
    assert "We never met" not in json.dumps(event.data)
    default_registry().validate_data(event.event_type, event.schema_version, event.data)  # consumers decode it
    assert ctx.meetings.texts(held.meeting_id)["dispute_reason"] == "We never met"
    scheduled = schedule(ctx, days=5).meeting
    with pytest.raises(Conflict) as not_recorded:
        ctx.meetings.dispute(scheduled, by="mentee-1", reason="x", causation=request())
    assert not_recorded.value.code == "meeting_not_recorded"


def test_a_disputed_held_meeting_no_longer_counts_for_engagement():
    ctx = context()
    held = _held(ctx, by="mentee-1")
    ctx.projector.catch_up()
    ctx.projector.catch_up()
    now = ctx.clock.now()
    report = cohort_report(ctx.pairings, ctx.meetings_view, "c1", now)
    assert report["summary"]["meetings_held"] == 1 and report["items"][0]["status"] == "on_track"
    ctx.meetings.dispute(held, by="mentor-1", reason="Only I came", causation=request())
    ctx.projector.catch_up()
    report = cohort_report(ctx.pairings, ctx.meetings_view, "c1", now)
    assert report["summary"]["meetings_held"] == 0 and report["summary"]["mentoring_hours"] == 0
    assert report["items"][0]["status"] == "at_risk" and report["items"][0]["last_meeting_at"] is None
    assert ctx.meetings_view.get(held.meeting_id)["disputed"]["by"] == "mentor-1"
    assert ctx.risk.check_all(now) == {"c1": 1}  # the risk clock does not count it either
