"""Runs of new meetings (requests scheduling at once, a series' occurrences) reach the views in one
go: the store projector gives consecutive MeetingScheduled commits to the meetings and busy-times
projections together. The views are exactly what applying the commits one by one gives (also when a
run is applied again), and each document the run touches is written once, not once per meeting:
the projector is the one writer every scheduling request waits for (read-your-writes)."""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from shared.aggregate import Causation
from shared.clock import ManualClock
from shared.config import Settings
from shared.memory import InMemoryEventStore
from shared.projector import StoreProjector
from services.sessions.adapters.mongo import busy_week_id, to_doc, week_of
from services.sessions.bootstrap import SessionsContext
from services.sessions.domain.pairing import PairingInfo
from tests.unit.sessions.fakedb import FakeDatabase

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
PAIRINGS = [PairingInfo(f"p{i}", "c1", f"mentor-{i}", f"mentee-{i}", "active", activated_at=NOW - timedelta(days=3))
            for i in range(3)]
VIEWS = ("meetings", "pairing_meetings", "busy_weeks", "busy_placements")
# (pairing, days ahead, moved later by this many days or None)
SCHEDULES = st.lists(st.tuples(st.integers(0, 2), st.integers(1, 20), st.one_of(st.none(), st.integers(1, 10))),
                     min_size=1, max_size=12)


def _context(store, *, one_by_one: bool = False) -> SessionsContext:
    ctx = SessionsContext(settings=Settings(service_name="sessions"), database=FakeDatabase(), store=store,
                          clock=ManualClock(NOW))
    for p in PAIRINGS:
        ctx.database["pairings"].insert_one({"_id": p.pairing_id, "cohort_id": "c1", "mentor_id": p.mentor_id,
                                             "mentee_id": p.mentee_id, "status": "active", "version": 2})
    if one_by_one:  # one commit a read: every run is a single commit, applied by the handlers
        ctx.projector = StoreProjector(ctx, ctx.own_projections(), name="sessions-own", batch_commits=1)
    return ctx


def _schedule(ctx, pairing: PairingInfo, days: int) -> str:
    cause = Causation(correlation_id="c", causation_id=str(uuid.uuid4()), actor_id=pairing.mentor_id)
    return ctx.meetings.schedule(pairing, actor_id=pairing.mentor_id, organizer_id=pairing.mentor_id,
                                 starts_at=NOW + timedelta(days=days), duration_minutes=45, timezone="UTC",
                                 agenda=None, causation=cause).meeting.meeting_id


def _views(ctx) -> dict:
    return {name: sorted(ctx.database[name].find({}), key=lambda d: d["_id"]) for name in VIEWS}


def _what_the_streams_say(ctx, meeting_ids) -> tuple[list, dict, dict]:
    """The meetings view, each pairing's list and each person's weeks, from the streams alone."""
    meetings = [ctx.meetings.load(i) for i in sorted(meeting_ids)]
    lists: dict = {}
    weeks: dict = {}
    for m in sorted(meetings, key=lambda m: (to_doc(m)["starts_at"], m.meeting_id)):
        lists.setdefault(m.pairing_id, []).append(m.meeting_id)
        if m.status == "scheduled":
            ends = m.starts_at + timedelta(minutes=m.duration_minutes)
            for person in m.parties:
                for week in {week_of(m.starts_at), week_of(ends - timedelta(microseconds=1))}:
                    weeks.setdefault(busy_week_id(person, week), set()).add(m.meeting_id)
    return [to_doc(m) for m in meetings], lists, weeks


@given(SCHEDULES)
@settings(max_examples=25, deadline=None)
def test_a_run_of_new_meetings_gives_the_views_one_by_one_gives_and_a_replay_changes_nothing(schedules):
    store = InMemoryEventStore()
    ctx = _context(store)
    moves, ids = [], []
    for pick, days, moved in schedules:
        ids.append(_schedule(ctx, PAIRINGS[pick], days))
        if moved is not None:
            moves.append((ids[-1], days + moved))
    for meeting_id, days in moves:  # reschedules after the run: one by one, on the batched views
        meeting = ctx.meetings.load(meeting_id)
        ctx.meetings.reschedule(meeting, by=meeting.mentee_id, starts_at=NOW + timedelta(days=days),
                                duration_minutes=None, causation=Causation("c", str(uuid.uuid4())))
    ctx.projector.catch_up()
    reference = _context(store, one_by_one=True)
    reference.projector.catch_up()
    batched = _views(ctx)
    assert batched == _views(reference)
    meetings, lists, weeks = _what_the_streams_say(ctx, ids)
    assert batched["meetings"] == meetings
    assert {d["_id"]: [m["_id"] for m in d["meetings"]] for d in batched["pairing_meetings"]} == lists
    assert {d["_id"]: {m["meeting_id"] for m in d["meetings"]} for d in batched["busy_weeks"] if d["meetings"]} == weeks

    ctx.database["projector_checkpoints"].drop()  # the whole store again (a lost checkpoint)
    ctx.projector.catch_up()
    assert _views(ctx) == batched


def test_each_document_a_run_touches_is_written_once():
    ctx = _context(InMemoryEventStore())
    for i in range(8):  # eight requests' meetings, two pairings, all in one week
        _schedule(ctx, PAIRINGS[i % 2], 7)
    writes: Counter = Counter()

    def counting(call, key):
        def counted(*args, **kwargs):
            writes[key] += 1
            return call(*args, **kwargs)
        return counted

    for name in VIEWS:
        collection = ctx.database[name]
        for method in ("insert_one", "insert_many", "replace_one"):
            setattr(collection, method, counting(getattr(collection, method), (name, method)))

    ctx.projector.catch_up()

    assert len(ctx.database["meetings"].find({})) == 8
    assert writes[("meetings", "insert_many")] == 1 and writes[("busy_placements", "insert_many")] == 1
    assert sum(n for (name, _), n in writes.items() if name == "pairing_meetings") == 2  # one per pairing
    assert sum(n for (name, _), n in writes.items() if name == "busy_weeks") == 4  # one per person's week
    assert sum(writes.values()) == 8  # one by one: 8 x (meeting, pairing list, 2 weeks, placement) = 40
