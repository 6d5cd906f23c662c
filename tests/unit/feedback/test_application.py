"""Feedback command handlers, own-stream projections and policies on in-memory adapters (no servers).

The wiring is the real `FeedbackContext`; only the database (tests/unit/sessions/fakedb.py) and
the event store (shared.memory) are in memory.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from shared.aggregate import Causation
from shared.clock import ManualClock
from shared.config import Settings
from shared.errors import Conflict
from shared.events.catalog.feedback import FEEDBACK_GIVEN, SURVEY_REQUESTED
from shared.events.catalog.matching import COHORT_STATUS_CHANGED
from shared.events.catalog.sessions import MEETING_DISPUTED
from shared.events.envelope import new_event
from shared.memory import InMemoryEventStore
from services.feedback.application.projections import ProgrammeView
from services.feedback.bootstrap import FeedbackContext
from services.feedback.domain.rules import GiveFeedback
from tests.helpers import apply_consumed
from tests.unit.feedback.programme import active_pairing, held_meeting
from tests.unit.sessions.fakedb import FakeDatabase

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=timezone.utc)
VIEWS = ("fb_feedback", "fb_reviews", "fb_surveys", "fb_comments", "fb_kudos")


def request() -> Causation:
    return Causation(correlation_id="chain-1", causation_id=str(uuid.uuid4()))


def context(store=None) -> FeedbackContext:
    ctx = FeedbackContext(settings=Settings(service_name="feedback", feedback_pseudonym_secret="unit-test-pseudonym-key"),
                          database=FakeDatabase(),
                          store=store or InMemoryEventStore(), clock=ManualClock(NOW))
    db = ctx.database
    db["fb_cohorts"].insert_one({"_id": "C1", "cohort_id": "C1", "program_id": "PR1", "status": "active",
                                 "starts_on": "2026-01-01", "ends_on": "2026-12-31", "rules": {}, "version": 1})
    active_pairing(db, "P1", "C1", "M1", "E1")
    held_meeting(db, "MT1", "P1", "C1", "M1", "E1")
    return ctx


def views(ctx) -> dict:
    return {name: sorted(ctx.database[name].find({}), key=lambda d: d["_id"]) for name in VIEWS}


def test_an_unshared_comment_is_stored_in_the_commit_and_projected_never_published():
    ctx = context()
    done = ctx.commands.give_feedback(GiveFeedback("P1", "E1", 2, meeting_id="MT1", comment="  kept checking his phone "),
                                      request())
    assert done.position > 0
    stream = ctx.store.load(done.id)
    assert "phone" not in json.dumps([e.to_dict() for e in stream.events])
    assert stream.events[0].data["comment_shared"] is False
    assert ctx.database["fb_comments"].find({}) == []  # no request handler wrote a view
    ctx.projector.catch_up()
    assert ctx.models.comment(done.id) == {"feedback_id": done.id, "from_id": "E1",
                                           "comment": "kept checking his phone", "shared": False}
    assert ctx.queries.feedback_about("M1")[0]["comment"] is None  # the subject never sees it


def test_a_retried_request_gets_its_first_answer_and_a_different_one_is_refused():
    ctx = context()
    command = GiveFeedback("P1", "E1", 4, meeting_id="MT1", comment="good", good_fit=True)
    first = ctx.commands.give_feedback(command, request())
    retry = ctx.commands.give_feedback(command, request())  # the answer was lost: same body again
    assert retry.id == first.id and retry.position == 0
    assert ctx.store.load(first.id).version == 1
    with pytest.raises(Conflict):
        ctx.commands.give_feedback(GiveFeedback("P1", "E1", 5, meeting_id="MT1"), request())

    pairing_request = request()
    general = GiveFeedback("P1", "M1", 5, comment="great pair")
    one = ctx.commands.give_feedback(general, pairing_request)
    two = ctx.commands.give_feedback(general, pairing_request)  # the same request id: the same feedback
    three = ctx.commands.give_feedback(general, request())  # the same rating again: still the one feedback
    assert one.id == two.id == three.id and three.position == 0


def test_one_rating_per_person_per_pairing_per_month_a_second_is_refused_not_replacing_the_first():
    ctx = context()  # 2026-02-01
    first = ctx.commands.give_feedback(GiveFeedback("P1", "E1", 2), request())
    with pytest.raises(Conflict) as refused:
        ctx.commands.give_feedback(GiveFeedback("P1", "E1", 5), request())
    assert refused.value.code == "already_rated"
    ctx.projector.catch_up()
    assert [f["rating"] for f in ctx.models.feedback_of_cohort("C1")] == [2]
    other = ctx.commands.give_feedback(GiveFeedback("P1", "M1", 4), request())  # the other party: their own
    ctx.clock.advance(days=28)  # 2026-03-01: a new month, a new rating
    later = ctx.commands.give_feedback(GiveFeedback("P1", "E1", 5), request())
    assert len({first.id, other.id, later.id}) == 3 and later.position > 0


def test_kudos_notes_live_in_the_commit_and_a_retry_sends_them_once():
    ctx = context()
    attempt = request()
    sent = ctx.commands.send_kudos("P1", "E1", " Thanks for the intro ", attempt)
    again = ctx.commands.send_kudos("P1", "E1", " Thanks for the intro ", attempt)
    assert sent.id == again.id and again.position == 0
    assert "intro" not in json.dumps([e.to_dict() for e in ctx.store.load(sent.id).events])
    ctx.projector.catch_up()
    [kudos] = ctx.queries.kudos_for("M1")
    assert kudos["note"] == "Thanks for the intro" and kudos["from_id"] == "E1"
    assert ctx.queries.kudos_for("E1") == []


def test_own_views_rebuilt_from_the_store_equal_the_live_ones():
    ctx = context()
    ctx.commands.give_feedback(GiveFeedback("P1", "E1", 3, meeting_id="MT1", comment="ok"), request())
    ctx.commands.send_kudos("P1", "M1", "well done", request())
    ctx.clock.set(datetime(2026, 2, 1, 12, tzinfo=timezone.utc))
    assert ctx.commands.request_due_reviews() == 2
    ctx.projector.catch_up()
    review = ctx.queries.reviews_of("E1")[0]
    ctx.commands.submit_review(review["review_id"], "E1", 4, 5, request())
    ctx.projector.catch_up()
    assert ctx.commands.request_due_reviews() == 0  # asked once per due date
    live = views(ctx)
    assert all(live[name] for name in ("fb_feedback", "fb_reviews", "fb_comments", "fb_kudos"))

    ctx.database["projector_checkpoints"].drop()
    ctx.projector.catch_up()  # everything applied a second time: nothing changes
    assert views(ctx) == live

    rebuilt = context(store=ctx.store)
    rebuilt.projector.catch_up()
    assert views(rebuilt) == live


def test_closing_a_cohort_sends_each_survey_once_even_when_redelivered():
    ctx = context()
    closed = new_event(event_type=COHORT_STATUS_CHANGED, schema_version=1, producer="matching",
                       aggregate_type="cohort", aggregate_id="C1", aggregate_version=2, correlation_id="x",
                       causation_id=None, data={"cohort_id": "C1", "program_id": "PR1", "status": "closed",
                                                "previous_status": "active", "changed_by": "A1"})
    projections = ctx.projections()
    for _ in range(2):  # delivered, then redelivered
        for projection in projections:
            handler = projection.handlers().get(COHORT_STATUS_CHANGED)
            if handler:
                handler(closed)
    requested = [c for c in ctx.store.read_all() for e in c.events if e.event_type == SURVEY_REQUESTED]
    assert len(requested) == 2  # mentor and mentee, once each
    assert ctx.commands.request_due_surveys() == 0
    assert all(e.causation_id == closed.event_id for c in requested for e in c.events)
    assert FEEDBACK_GIVEN not in {e.event_type for c in ctx.store.read_all() for e in c.events}


def test_a_disputed_held_meeting_leaves_the_cohort_counts_but_can_still_be_rated():
    ctx = context()
    assert ctx.queries.export_rows("C1")[0]["meetings_held"] == 1
    disputed = new_event(event_type=MEETING_DISPUTED, schema_version=1, producer="sessions", aggregate_type="meeting",
                         aggregate_id="MT1", aggregate_version=3, correlation_id="c", causation_id=None, data={
                             "meeting_id": "MT1", "pairing_id": "P1", "cohort_id": "C1", "mentor_id": "M1",
                             "mentee_id": "E1", "disputed_by": "M1", "disputed_status": "held", "recorded_by": "E1",
                             "disputed_at": "2026-01-11T10:00:00.000Z"})
    view = ProgrammeView(ctx.database)
    apply_consumed(view, disputed)
    apply_consumed(view, disputed)  # a redelivery changes nothing
    assert ctx.queries.export_rows("C1")[0]["meetings_held"] == 0
    assert ctx.queries.cohort_summary("C1")["feedback"]["held_meetings"] == 0
    assert ctx.commands.give_feedback(GiveFeedback("P1", "E1", 4, meeting_id="MT1"), request()).position > 0
