"""Retention of meeting texts (README "Privacy"): agendas, notes and dispute reasons are forgotten
`retention_private_text_days` after the pairing ended, or completed without the pair staying in
touch (shared/retention.py); the meetings themselves stay."""
from __future__ import annotations

import time
from datetime import timedelta

from shared.clock import rfc3339, utcnow
from shared.events.catalog.matching import PAIRING_COMPLETED, STAY_IN_TOUCH_CHOSEN
from shared.events.envelope import new_event
from shared.memory import InMemoryEventStore
from tests.unit.sessions.test_application import CAUSE, NOW, context, request, schedule


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


# -- completed pairings (issue 13): the clock runs from the completion unless the pair stays in touch --

def _matching_event(event_type: str, version: int, at, **data):
    return new_event(event_type=event_type, schema_version=1, producer="matching", aggregate_type="pairing",
                     aggregate_id="p1", aggregate_version=version, correlation_id="x", causation_id=None,
                     occurred_at=at, data={"pairing_id": "p1", "cohort_id": "c1", "mentor_id": "mentor-1",
                                           "mentee_id": "mentee-1", **data})


def _pairing_view(ctx, envelope) -> None:
    [view] = [p for p in ctx.projections() if p.name == "sessions-pairings"]
    view.handlers()[envelope.event_type](envelope)


def _choice(version: int, at, role: str, stay: bool, both: bool):
    return _matching_event(STAY_IN_TOUCH_CHOSEN, version, at, employee_id=f"{role}-1", role=role,
                           stay_in_touch=stay, staying_in_touch=both)


def _held_meeting_with_notes(ctx, notes: str) -> str:
    outcome = ctx.meetings.schedule(ctx.pairings.get("p1"), actor_id="mentor-1", organizer_id="mentor-1",
                                    starts_at=ctx.clock.now() + timedelta(hours=1), duration_minutes=30,
                                    timezone="UTC", agenda=None, causation=request())
    ctx.clock.advance(hours=2)
    ctx.meetings.complete(outcome.meeting, by="mentee-1", held_at=None, duration_minutes=None, attendees=None,
                          notes=notes, causation=request())
    ctx.projector.catch_up()
    return outcome.meeting.meeting_id


def test_a_completed_pairings_notes_go_a_period_after_the_completion_when_the_pair_does_not_stay_in_touch():
    ctx = context()
    meeting_id = _held_meeting_with_notes(ctx, "She wants to lead a team")
    completed_at = ctx.clock.now()
    _pairing_view(ctx, _matching_event(PAIRING_COMPLETED, 3, completed_at, completed_at=rfc3339(completed_at)))
    _pairing_view(ctx, _choice(4, completed_at + timedelta(days=2), "mentee", True, False))  # only one said yes

    ctx.clock.set(completed_at + timedelta(days=364))
    assert ctx.retention.run() == 0
    assert ctx.meetings.texts(meeting_id)["notes"] == "She wants to lead a team"
    ctx.clock.set(completed_at + timedelta(days=366))
    assert ctx.retention.run() == 1
    assert ctx.meetings.texts(meeting_id) == {}
    assert ctx.meetings.load(meeting_id).status == "held"
    assert ctx.retention.run() == 0


def test_a_pair_staying_in_touch_keeps_their_notes_until_a_period_after_one_of_them_says_no():
    ctx = context()
    first = _held_meeting_with_notes(ctx, "Career plan")
    completed_at = ctx.clock.now()
    _pairing_view(ctx, _matching_event(PAIRING_COMPLETED, 3, completed_at, completed_at=rfc3339(completed_at)))
    _pairing_view(ctx, _choice(4, completed_at + timedelta(days=1), "mentee", True, False))
    _pairing_view(ctx, _choice(5, completed_at + timedelta(days=1), "mentor", True, True))

    ctx.clock.set(completed_at + timedelta(days=500))  # still in touch: kept, as an active pair's
    assert ctx.retention.run() == 0
    second = _held_meeting_with_notes(ctx, "Promotion went through")
    parted_at = ctx.clock.now()
    _pairing_view(ctx, _choice(6, parted_at, "mentor", False, False))

    ctx.clock.set(parted_at + timedelta(days=364))
    assert ctx.retention.run() == 0
    assert ctx.meetings.texts(first)["notes"] == "Career plan"
    ctx.clock.set(parted_at + timedelta(days=366))
    assert ctx.retention.run() == 1
    assert ctx.meetings.texts(first) == {} and ctx.meetings.texts(second) == {}


def test_notes_written_after_the_text_was_forgotten_go_a_period_after_the_pair_parts_again():
    ctx = context()
    _held_meeting_with_notes(ctx, "Career plan")
    completed_at = ctx.clock.now()
    _pairing_view(ctx, _matching_event(PAIRING_COMPLETED, 3, completed_at, completed_at=rfc3339(completed_at)))
    ctx.clock.set(completed_at + timedelta(days=400))
    assert ctx.retention.run() == 1  # nobody answered: a period after the completion

    _pairing_view(ctx, _choice(4, ctx.clock.now(), "mentee", True, False))
    _pairing_view(ctx, _choice(5, ctx.clock.now(), "mentor", True, True))  # they pick it up again
    later = _held_meeting_with_notes(ctx, "New role, new questions")
    parted_at = ctx.clock.now()
    _pairing_view(ctx, _choice(6, parted_at, "mentee", False, False))
    ctx.clock.set(parted_at + timedelta(days=300))
    assert ctx.retention.run() == 0
    assert ctx.meetings.texts(later)["notes"] == "New role, new questions"
    ctx.clock.set(parted_at + timedelta(days=366))
    assert ctx.retention.run() == 1
    assert ctx.meetings.texts(later) == {}


# -- weekly availability: forgotten a period after it was set or the person's last pairing stopped --

WEEK = [{"day": "tue", "start": "09:00", "end": "12:00"}]


def _set_availability(ctx, employee_id: str) -> None:
    ctx.availability.set(employee_id, weekly=WEEK, time_zone="Europe/Berlin", causation=request())
    ctx.projector.catch_up()


def test_availability_ages_only_while_no_pairing_of_the_person_goes_on_and_a_new_setting_ages_again():
    ctx = context()
    ctx.clock.set(utcnow())  # the store stamps the events with the system's time
    ctx.availability_retention.days = 180  # RETENTION_AVAILABILITY_DAYS
    _set_availability(ctx, "mentee-1")  # in the active pairing p1
    _set_availability(ctx, "stranger-9")  # never paired
    ctx.clock.advance(days=200)
    assert ctx.availability_retention.run() == 1  # the stranger's only: mentee-1 is in a pairing
    assert ctx.availability.current("stranger-9").weekly == []
    assert [i.day for i in ctx.availability.current("mentee-1").weekly] == ["tue"]

    ended_at = ctx.clock.now()
    ctx.database["pairings"].update_one({"_id": "p1"}, {"$set": {"status": "ended", "ended_at": rfc3339(ended_at),
                                                                 "version": 3}})
    ctx.clock.set(ended_at + timedelta(days=179))
    assert ctx.availability_retention.run() == 0  # counted from the end of the pairing, not from the setting
    ctx.clock.set(ended_at + timedelta(days=181))
    assert ctx.availability_retention.run() == 1
    current = ctx.availability.current("mentee-1")
    assert current.weekly == [] and current.time_zone is None and current.version == 1  # the event stays
    assert ctx.availability_retention.run() == 0

    ctx.clock.set(utcnow())
    # events carry the system's time to the millisecond, and a set in the same millisecond as the one
    # forgotten would be that one again (in real use the two are 180 days apart): step past it
    time.sleep(0.002)
    _set_availability(ctx, "stranger-9")  # set again: ages again from now
    assert ctx.availability_retention.run() == 0
    ctx.clock.advance(days=181)
    assert ctx.availability_retention.run() == 1 and ctx.availability.current("stranger-9").weekly == []
