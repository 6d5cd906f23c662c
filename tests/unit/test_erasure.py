"""Erasure of a person (GDPR Art. 17, shared.erasure) on in-memory fakes: once per service however
often it is asked, the record first, and projections that keep an erased person's data out."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from shared.aggregate import Causation
from shared.clock import ManualClock
from shared.config import Settings
from shared.directory import DirectoryProjection
from shared.erasure import FORMER_PARTICIPANT, ErasedPeople, PersonEraser, stream_id
from shared.events.catalog import default_registry
from shared.events.envelope import Envelope
from shared.memory import InMemoryEventStore
from services.feedback.bootstrap import FeedbackContext
from services.notifications.application.erasure import ERASED_TEXT, _redact, _replace_all, _texts_of
from tests.helpers import hris_upsert
from tests.unit.feedback.programme import active_pairing, held_meeting
from tests.unit.sessions.fakedb import FakeDatabase

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=timezone.utc)


def cause() -> Causation:
    return Causation(correlation_id="erasure-1", causation_id=str(uuid.uuid4()))


def test_a_person_is_erased_once_and_recorded_before_their_data_goes():
    store, database, calls = InMemoryEventStore(), FakeDatabase(), []

    def erase(employee_id, at):
        calls.append((employee_id, ErasedPeople(database).is_erased(employee_id)))

    replicas = [PersonEraser(service="sessions", store=store, registry=default_registry(), database=database,
                             clock=ManualClock(NOW), erase=erase) for _ in range(2)]
    assert replicas[0].erase("E1", cause(), source="hris") is True
    # a redelivery, the other trigger, another replica: nothing is erased or published again
    assert [r.erase("E1", cause(), source="matching") for r in replicas] == [False, False]
    assert calls == [("E1", True)]  # the record came first: projections already keep the person out
    [event] = store.load(stream_id("E1")).events
    assert (event.event_type, event.data["employee_id"], event.data["service"]) == ("PersonErased", "E1", "sessions")


def test_an_erased_persons_hris_records_fold_into_the_erased_form_also_in_a_rebuild():
    database = FakeDatabase()
    directory = DirectoryProjection(database, name="test-directory", fields=("display_name", "email"))
    directory.apply(Envelope.from_hris(hris_upsert("E1", occurred_at="2026-01-01T00:00:00Z", email="e1@example.com")))
    ErasedPeople(database).record("E1", at="2026-02-01T09:00:00.000Z", source="api")
    directory.repository.erase("E1", "2026-02-01T09:00:00.000Z")
    later = Envelope.from_hris(hris_upsert("E1", occurred_at="2026-03-01T00:00:00Z", email="e1@example.com"))
    directory.apply(later)
    other = Envelope.from_hris(hris_upsert("E2", occurred_at="2026-03-01T00:00:00Z"))
    directory.reset()  # a rebuild replays everything into an empty collection
    directory.apply_batch([later, other])
    erased = directory.get("E1")
    assert (erased["display_name"], erased["status"], erased.get("email")) == (FORMER_PARTICIPANT, "terminated", None)
    assert "e1@example.com" not in json.dumps(database["participants"].find({}))
    assert directory.get("E2")["display_name"] == "Person E2"


def _feedback_context(store, database) -> FeedbackContext:
    ctx = FeedbackContext(settings=Settings(service_name="feedback", feedback_pseudonym_secret="unit-test-key"),
                          database=database, store=store, clock=ManualClock(NOW))
    active_pairing(database, "P1", "C1", "M1", "E1")  # as the worker's consumer applies matching's and sessions' events
    held_meeting(database, "MT1", "P1", "C1", "M1", "E1")
    return ctx


def test_feedback_forgets_the_words_by_and_about_the_person_and_a_rebuild_keeps_them_out():
    from services.feedback.domain.rules import GiveFeedback

    store = InMemoryEventStore()
    ctx = _feedback_context(store, FakeDatabase())
    ctx.commands.give_feedback(GiveFeedback("P1", "E1", 4, comment="MENTEE COMMENT"), cause())
    ctx.commands.give_feedback(GiveFeedback("P1", "M1", 5, comment="ABOUT THE MENTEE", share_comment=True), cause())
    ctx.commands.send_kudos("P1", "M1", "KUDOS TO THE MENTEE", cause())
    ctx.commands.send_kudos("P1", "E1", "KUDOS FROM THE MENTEE", cause())
    ctx.projector.catch_up()
    words = ("MENTEE COMMENT", "ABOUT THE MENTEE", "KUDOS TO THE MENTEE", "KUDOS FROM THE MENTEE")

    def views_text(database) -> str:
        return json.dumps({name: c.find({}) for name, c in database.collections.items()}, default=str)

    assert all(w in views_text(ctx.database) for w in words)
    assert ctx.eraser.erase("E1", cause(), source="matching") is True
    assert not [w for w in words if w in views_text(ctx.database)]
    private = json.dumps([c.private for c in store.read_all()], default=str)
    assert not [w for w in words if w in private]  # the commits' private parts too (single-author streams)
    ratings = sorted(d["rating"] for d in ctx.database["fb_feedback"].find({}))
    assert ratings == [4, 5]  # the numbers stay: summaries still add up

    rebuilt = FakeDatabase()
    rebuilt["erasures"].insert_one(ctx.database["erasures"].find_one({"_id": "E1"}))
    again = _feedback_context(store, rebuilt)
    again.projector.catch_up()
    assert len(rebuilt["fb_feedback"].find({})) == 2
    assert not [w for w in words if w in views_text(rebuilt)]


def test_notifications_redacts_the_persons_text_in_what_others_were_told():
    context = {"mentee_id": "E1", "goals": [{"title": "Learn Rust", "status": "open", "progress": 10}]}
    assert _texts_of(context) == ["Learn Rust"]
    assert _redact(context)["goals"][0] == {"title": ERASED_TEXT, "status": "open", "progress": 10}
    body = "Person E1's goals: - Learn Rust about Person E1"
    assert _replace_all(body, {"Person E1": FORMER_PARTICIPANT, "Learn Rust about Person E1": ERASED_TEXT}) == \
        f"{FORMER_PARTICIPANT}'s goals: - {ERASED_TEXT}"


def test_sessions_keeps_private_text_sealed_per_author_and_erasure_shreds_only_the_persons_words():
    from tests.unit.sessions.test_application import context, schedule

    ctx = context()
    as_mentee = Causation(correlation_id="c", causation_id=str(uuid.uuid4()), actor_id="mentee-1")
    as_mentor = Causation(correlation_id="c", causation_id=str(uuid.uuid4()), actor_id="mentor-1")
    meeting = schedule(ctx, agenda="MENTEE AGENDA", actor="mentee-1", causation=as_mentee).meeting
    ctx.clock.advance(days=3)
    ctx.meetings.complete(meeting, by="mentor-1", held_at=None, duration_minutes=None, attendees=None,
                          notes="MENTOR NOTE", causation=as_mentor)
    stored = json.dumps([commit.private for commit in ctx.store.read_all()])
    assert "MENTEE AGENDA" not in stored and "MENTOR NOTE" not in stored  # sealed at rest
    assert ctx.meetings.texts(meeting.meeting_id) == {"agenda": "MENTEE AGENDA", "notes": "MENTOR NOTE",
                                                      "notes_by": "mentor-1"}
    assert ctx.eraser.erase("mentee-1", cause(), source="matching") is True
    assert ctx.meetings.texts(meeting.meeting_id) == {"notes": "MENTOR NOTE", "notes_by": "mentor-1"}
    # an erased person gets no new key: words they would still write are not kept
    assert ctx.sealer.seal({"agenda": "LATE"}, "mentee-1") == {}
