"""On the real servers: a year after the pairing ended, the retention job removes the meeting's
agenda and notes from the event store's commits; the meeting, its counts and a rebuild stay intact
and bring no text back."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from shared.aggregate import Causation
from shared.clock import ManualClock, rfc3339, utcnow
from shared.events.envelope import Envelope
from shared.projector import rebuild_service
from services.sessions import bootstrap
from services.sessions.application.projections import PairingsProjection
from tests.integration.sessions._support import activated_pairing, cohort_created, envelope, pairing_data

pytestmark = pytest.mark.integration


def _cause() -> Causation:
    return Causation(correlation_id="c", causation_id=str(uuid.uuid4()))


def test_meeting_texts_are_gone_from_the_store_and_views_after_the_period_and_the_meeting_stays(make_settings):
    settings = make_settings("sessions")
    clock = ManualClock(utcnow())
    context = bootstrap.build(settings, clock=clock)
    context.ensure_indexes()
    view = PairingsProjection(context.database)
    for raw in [cohort_created("c1"), *activated_pairing("p1")]:
        envelope_ = Envelope.from_dict(raw)
        view.handlers()[envelope_.event_type](envelope_)
    scheduled = context.meetings.schedule(
        context.pairings.get("p1"), actor_id="mentor-1", organizer_id="mentor-1", starts_at=clock.now() + timedelta(hours=1),
        duration_minutes=30, timezone="UTC", agenda="Promotion case", causation=_cause())
    meeting_id = scheduled.meeting.meeting_id
    clock.advance(hours=2)
    context.meetings.complete(scheduled.meeting, by="mentor-1", held_at=None, duration_minutes=None, attendees=None,
                              notes="Agreed to draft the case by Friday", causation=_cause())
    context.projector.catch_up()
    ended = Envelope.from_dict(envelope("PairingEnded", "pairing", "p1", 3, pairing_data(
        "p1", reason="completed", ended_by="admin-1"), occurred_at=rfc3339(clock.now())))
    view.handlers()[ended.event_type](ended)

    def stored_text() -> str:
        return json.dumps(list(context.database["event_commits"].find({})), default=str)

    clock.advance(days=300)
    assert context.retention.run() == 0
    assert "Friday" in stored_text()

    clock.advance(days=66)
    assert context.retention.run() == 1
    assert "Friday" not in stored_text() and "Promotion" not in stored_text()
    assert context.meetings.texts(meeting_id) == {}
    fresh = bootstrap.build(settings, clock=clock)  # another process: nothing cached
    assert fresh.meetings.texts(meeting_id) == {} and fresh.meetings.load(meeting_id).status == "held"

    report = rebuild_service(fresh, None, grace_s=0)
    assert report.store_events == 5  # two meeting events, each applied by the meetings and busy-times views; the held one by the roster too
    [doc] = fresh.meetings_view.for_pairing("p1")
    assert doc["status"] == "held" and doc["held_minutes"] == 30
    everything = [list(fresh.database[name].find({})) for name in fresh.database.list_collection_names()]
    assert "Friday" not in json.dumps(everything, default=str)
