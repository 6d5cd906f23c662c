"""The engagement roster on in-memory adapters (no servers): the pairs part per Kafka partition
(one writer each, redelivery recognised by offset, a stale event never brings back an ended pair,
readers find every partition), the meetings part from the store (held, disputed, agreed cadence,
replays), and the report it gives equal to the report computed by scanning the views."""
from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings, strategies as st

from shared.clock import rfc3339
from shared.consumer import RecordAt, consuming
from shared.events.catalog.matching import (
    PAIRING_ACCEPTED, PAIRING_ACTIVATED, PAIRING_DECLINED, PAIRING_ENDED, PAIRING_PROPOSED,
)
from shared.events.envelope import new_event
from services.sessions.adapters.mongo import to_info
from services.sessions.adapters.roster import ROSTER_PAIRS, RosterPairs
from services.sessions.application.projections import PairingsProjection, RosterPairsProjection
from services.sessions.application.queries import roster_report
from tests.sessions_scanning_report import cohort_report
from services.sessions.domain.roster import HeldMeetings, PairsPart
from tests.unit.sessions.fakedb import FakeDatabase
from tests.unit.sessions.test_application import NOW, PAIRING, context, request

VERSION = {PAIRING_PROPOSED: 1, PAIRING_ACCEPTED: 2, PAIRING_DECLINED: 2, PAIRING_ACTIVATED: 3, PAIRING_ENDED: 4}


def pairing_event(event_type, pairing_id, cohort_id="c1", version=None):
    data = {"pairing_id": pairing_id, "cohort_id": cohort_id, "mentor_id": f"m-{pairing_id}",
            "mentee_id": f"e-{pairing_id}"}
    if event_type == PAIRING_ACTIVATED:
        data["activated_at"] = rfc3339(NOW - timedelta(days=10))
    return new_event(event_type=event_type, schema_version=1, data=data, producer="matching",
                     aggregate_type="pairing", aggregate_id=pairing_id,
                     aggregate_version=version or VERSION[event_type], correlation_id="c", causation_id=None)


class Partitions:
    """Matching's topic as the consumer runner hands it over: each record with its partition and offset."""

    def __init__(self, *projections):
        self.projections = projections
        self.offsets: dict[int, int] = {}

    def deliver(self, partition: int, envelope, offset: int | None = None) -> None:
        if offset is None:
            offset = self.offsets.get(partition, -1) + 1
        self.offsets[partition] = max(offset, self.offsets.get(partition, -1))
        with consuming({envelope.event_id: RecordAt("mentoring.matching.v1", partition, offset)}):
            for projection in self.projections:
                handler = projection.handlers().get(envelope.event_type)
                if handler:
                    handler(envelope)


def test_a_pairs_part_keeps_the_active_pairings_and_never_revives_an_ended_one():
    part = PairsPart()
    assert part.apply("p1", 1, "proposed", "m", "e") and part.pairs() == {}
    assert part.apply("p1", 2, None, "m", "e") and part.pairs() == {}  # accepted by one: still proposed
    assert part.apply("p1", 3, "active", "m", "e", "2026-01-01T00:00:00.000Z")
    assert part.apply("p1", 4, None, "m", "e")  # a later acceptance keeps it active, activation and all
    assert part.pairs()["p1"].activated_at == "2026-01-01T00:00:00.000Z"
    assert not part.apply("p1", 3, "active", "m", "e", "2026-01-01T00:00:00.000Z")  # seen: nothing changes
    assert part.apply("p1", 5, "ended", "m", "e") and part.pairs() == {}
    assert not part.apply("p1", 3, "active", "m", "e", "2026-01-01T00:00:00.000Z")  # a redriven old activation
    assert part.pairs() == {} and part.other == {"p1": 5}


def test_held_meetings_sum_up_and_a_disputed_last_one_gives_way_to_the_one_before():
    held = HeldMeetings()
    assert held.held("m1", "2026-01-05T10:00:00Z", 45) and held.held("m2", "2026-01-19T10:00:00.000+00:00", 30)
    assert not held.held("m1", "2026-01-05T10:00:00Z", 45)  # once per meeting
    assert held.summary() == [2, 75, "2026-01-19T10:00:00.000Z"]
    assert held.disputed("m2") and held.summary() == [1, 45, "2026-01-05T10:00:00.000Z"]
    assert not held.disputed("m3")  # a disputed no-show never counted
    assert held.disputed("m1") and held.summary() == [0, 0, None]


def test_each_partition_writes_its_own_document_and_readers_find_every_partition():
    database = FakeDatabase()
    feed = Partitions(RosterPairsProjection(database))
    roster = RosterPairs(database)
    for event_type in (PAIRING_PROPOSED, PAIRING_ACTIVATED):
        feed.deliver(2, pairing_event(event_type, "p-a"))
    # partition 2 wrote first: empty placeholders stand for 0 and 1, so a reader reaches 2
    assert sorted(database[ROSTER_PAIRS].docs) == ["c1|0", "c1|1", "c1|2"]
    assert set(roster.active("c1")) == {"p-a"}
    for event_type in (PAIRING_PROPOSED, PAIRING_ACTIVATED):
        feed.deliver(0, pairing_event(event_type, "p-b"))
    feed.deliver(1, pairing_event(PAIRING_PROPOSED, "p-c"))
    feed.deliver(1, pairing_event(PAIRING_DECLINED, "p-c"))
    feed.deliver(3, pairing_event(PAIRING_ACTIVATED, "p-d", cohort_id="c2"))  # another cohort's documents
    active = roster.active("c1")
    assert set(active) == {"p-a", "p-b"}
    assert (active["p-b"].mentor_id, active["p-b"].mentee_id) == ("m-p-b", "e-p-b")
    assert active["p-b"].activated_at == rfc3339(NOW - timedelta(days=10))
    assert set(roster.active("c2")) == {"p-d"} and roster.active("c3") == {}

    # a redelivered record (the same offset again) is recognised by its partition's offset
    ended = pairing_event(PAIRING_ENDED, "p-a")
    feed.deliver(2, ended)
    before = dict(database[ROSTER_PAIRS].docs)
    feed.deliver(2, pairing_event(PAIRING_ACTIVATED, "p-a"), offset=1)  # an old record, read again
    feed.deliver(2, ended, offset=feed.offsets[2])
    assert database[ROSTER_PAIRS].docs == before and set(roster.active("c1")) == {"p-b"}
    # ... and a stale event re-sent at a new offset (a redriven dead letter) by the pairing's version
    feed.deliver(2, pairing_event(PAIRING_ACTIVATED, "p-a"))
    assert set(roster.active("c1")) == {"p-b"}


PAIRS = [f"p{i}" for i in range(4)]
STEPS = st.lists(st.tuples(st.sampled_from(PAIRS), st.sampled_from(
    [PAIRING_PROPOSED, PAIRING_ACCEPTED, PAIRING_ACTIVATED, PAIRING_ENDED, PAIRING_DECLINED]),
    st.integers(1, 6), st.booleans()), max_size=25)


@given(STEPS)
@settings(max_examples=40, deadline=None)
def test_the_roster_lists_exactly_the_pairings_the_pairings_view_has_active(steps):
    """Any sequence of pairing events, in and out of version order, some delivered twice."""
    database = FakeDatabase()
    feed = Partitions(PairingsProjection(database), RosterPairsProjection(database))
    for pairing_id, event_type, version, twice in steps:
        event = pairing_event(event_type, pairing_id, version=version)
        partition = PAIRS.index(pairing_id) % 3  # matching keys by pairing id: one partition per pairing
        feed.deliver(partition, event)
        if twice:
            feed.deliver(partition, event, offset=feed.offsets[partition])
    views = PairingsProjection(database).repository.pairings
    active = {p.pairing_id for p in map(to_info, views.find({"cohort_id": "c1"})) if p.is_active}
    assert set(RosterPairs(database).active("c1")) == active


def test_the_report_from_the_roster_equals_the_one_from_the_views_through_holds_disputes_and_agreements():
    ctx = context()  # p1: active for 30 days, cohort cadence 7 (test_application)

    def reports():
        ctx.projector.catch_up()
        now = ctx.clock.now()
        return (roster_report(ctx.pairings, ctx.roster_pairs, ctx.roster_meetings, "c1", now),
                cohort_report(ctx.pairings, ctx.meetings_view, "c1", now, ctx.agreements_view))

    held = []
    for days, minutes in ((1, 45), (3, 60), (5, 30)):
        meeting = ctx.meetings.schedule(PAIRING, actor_id="mentor-1", organizer_id="mentor-1",
                                        starts_at=NOW + timedelta(days=days), duration_minutes=minutes,
                                        timezone="UTC", agenda=None, causation=request()).meeting
        ctx.clock.set(NOW + timedelta(days=days, hours=2))
        held.append(ctx.meetings.complete(meeting, by="mentor-1", held_at=None, duration_minutes=None,
                                          attendees=None, notes=None, causation=request()).meeting)
    roster, views = reports()
    assert roster == views
    assert roster["items"][0]["meetings_held"] == 3 and roster["summary"]["mentoring_hours"] == 2.25
    assert roster["items"][0]["last_meeting_at"] == rfc3339(NOW + timedelta(days=5))
    ctx.meetings.dispute(held[2], by="mentee-1", reason="never happened", causation=request())
    roster, views = reports()
    assert roster == views and roster["items"][0]["last_meeting_at"] == rfc3339(NOW + timedelta(days=3))
    for party in ("mentor-1", "mentee-1"):  # both confirm a 30-day cadence
        if party == "mentor-1":
            ctx.agreements.revise(PAIRING, expected_revision=0, by=party, cadence_days=30, channel="video",
                                  confidentiality="between_us", expectations=None, causation=request())
        ctx.agreements.confirm(PAIRING, by=party, revision=1, causation=request())
    ctx.clock.set(NOW + timedelta(days=40))
    roster, views = reports()
    assert roster == views
    assert (roster["items"][0]["cadence_days"], roster["items"][0]["cadence_agreed"]) == (30, True)
    assert roster["items"][0]["status"] == "needs_check_in"

    # the store projector applies commits again (a lost checkpoint, a lease handover): nothing changes
    state = {name: dict(ctx.database[name].docs) for name in ("roster_meetings", "roster_held")}
    ctx.database["projector_checkpoints"].drop()
    ctx.projector.catch_up()
    assert {name: dict(ctx.database[name].docs) for name in state} == state
    # a crash between the pairing's list and the cohort's summary: the replay finishes the summary
    ctx.database["roster_meetings"].drop()
    ctx.database["projector_checkpoints"].drop()
    assert reports()[0] == views
