"""On the real servers: a meeting's private text survives a crash between the steps of a request,
a retried request is answered, not refused; and MeetingScheduled v1 events stored before v2 work
on the write path (commands), the own-stream read path (the meetings view) and Kafka consumers."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from shared import topics
from shared.aggregate import Causation
from shared.clock import rfc3339, utcnow
from shared.events.catalog import default_registry
from shared.events.catalog.sessions import MEETING_HELD, MEETING_SCHEDULED
from shared.events.envelope import Envelope
from shared.kafka import make_producer
from shared.relay import EventRelay
from services.sessions import bootstrap
from services.sessions.adapters.mongo import to_doc
from services.sessions.api import create_app
from services.sessions.application.projections import PairingsProjection
from tests.helpers import read_topic
from tests.integration.sessions._support import activated_pairing, cohort_created, headers

pytestmark = pytest.mark.integration


def _seeded(settings):
    context = bootstrap.build(settings)
    context.ensure_indexes()
    view = PairingsProjection(context.database)
    for raw in [cohort_created("c1"), *activated_pairing("p1")]:
        envelope = Envelope.from_dict(raw)
        view.handlers()[envelope.event_type](envelope)
    return context


def test_private_text_survives_a_crash_between_steps_and_a_retry_is_answered(make_settings):
    settings = make_settings("sessions")
    crashed = _seeded(settings)
    pairing = crashed.pairings.get("p1")
    outcome = crashed.meetings.schedule(
        pairing, actor_id="mentor-1", organizer_id="mentor-1", starts_at=utcnow() + timedelta(hours=1),
        duration_minutes=30, timezone="UTC", agenda="Promotion case",
        causation=Causation(correlation_id="c", causation_id=str(uuid.uuid4())))
    meeting_id = outcome.meeting.meeting_id
    del crashed  # the process dies right after the append: no view written, no answer sent

    app = create_app(settings)  # a new process
    context = app.extensions["sessions"]
    client = app.test_client()
    mentor = headers(settings, "mentor-1")
    got = client.get(f"/v1/meetings/{meeting_id}", headers=mentor).get_json()
    assert got["agenda"] == "Promotion case" and got["scheduled_by"] == "mentor-1"

    # complete with notes; the answer is lost and the client retries the same request
    context.clock = _Later(timedelta(hours=2))
    retry_id = {"X-Request-ID": str(uuid.uuid4())}
    body = {"notes": "Agreed to draft the case by Friday"}
    first = client.post(f"/v1/meetings/{meeting_id}/complete", headers={**mentor, **retry_id}, json=body)
    again = client.post(f"/v1/meetings/{meeting_id}/complete", headers={**mentor, **retry_id}, json=body)
    assert first.status_code == again.status_code == 200 and again.get_json()["status"] == "held"
    assert [e.event_type for e in context.store.load(meeting_id).events] == [MEETING_SCHEDULED, MEETING_HELD]
    notes = client.get(f"/v1/meetings/{meeting_id}/notes", headers=headers(settings, "mentee-1")).get_json()
    assert notes["notes"] == "Agreed to draft the case by Friday"

    # the meetings view catches up from the store and says what the stream says
    context.projector.catch_up()
    assert context.meetings_view.get(meeting_id) == to_doc(context.meetings.load(meeting_id))
    listing = client.get("/v1/pairings/p1/meetings", headers=mentor).get_json()["items"]
    assert [m["meeting_id"] for m in listing] == [meeting_id]

    # the words never reach Kafka
    relay = EventRelay(settings, context.store, make_producer(settings))
    while relay.publish_pending():
        pass
    records = read_topic(settings, topics.SESSIONS, expect=2)
    assert all(b"Promotion" not in r.value and b"Friday" not in r.value for r in records)


def test_a_stored_v1_meeting_is_read_as_v2_by_commands_views_and_consumers(make_settings):
    settings = make_settings("sessions")
    context = _seeded(settings)
    starts = rfc3339(utcnow() + timedelta(days=2))
    old = Envelope(event_id=str(uuid.uuid4()), event_type=MEETING_SCHEDULED, schema_version=1,
                   occurred_at=rfc3339(utcnow()), producer="sessions", aggregate_type="meeting",
                   aggregate_id="m-v1", aggregate_version=1, correlation_id="before-v2", causation_id=None,
                   data={"meeting_id": "m-v1", "pairing_id": "p1", "cohort_id": "c1", "mentor_id": "mentor-1",
                         "mentee_id": "mentee-1", "organizer_id": "mentee-1", "starts_at": starts,
                         "duration_minutes": 30, "timezone": "UTC"})
    context.store.append("m-v1", 0, [old])  # as an older version of the service stored it

    client = create_app(settings).test_client()
    mentee = headers(settings, "mentee-1")
    got = client.get("/v1/meetings/m-v1", headers=mentee).get_json()
    assert got["status"] == "scheduled" and got["scheduled_by"] is None and got["organizer_id"] == "mentee-1"
    moved = client.post("/v1/meetings/m-v1/reschedule", headers=mentee,
                        json={"starts_at": (utcnow() + timedelta(days=3)).isoformat()})
    assert moved.status_code == 200 and moved.get_json()["version"] == 2

    context.projector.catch_up()
    view = context.meetings_view.get("m-v1")
    assert view["scheduled_by"] is None and view["sequence"] == 1 and view["version"] == 2

    relay = EventRelay(settings, context.store, make_producer(settings))
    while relay.publish_pending():
        pass
    records = read_topic(settings, topics.SESSIONS, expect=2)
    published = [default_registry().decode(r.value) for r in records]
    scheduled = next(e for e in published if e.event_type == MEETING_SCHEDULED)
    assert scheduled.schema_version == 2 and scheduled.data["actor_id"] is None  # what consumers see
    assert b'"schema_version":1' in next(r.value for r in records if b"MeetingScheduled" in r.value)


class _Later:
    def __init__(self, delta):
        self.delta = delta

    def now(self):
        return utcnow() + self.delta
