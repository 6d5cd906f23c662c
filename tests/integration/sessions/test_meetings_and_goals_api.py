"""Sessions API against real Kafka and MongoDB: matching's events in, this service's events out."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from shared import topics
from shared.clock import rfc3339, utcnow
from shared.kafka import make_producer
from shared.relay import EventRelay
from services.sessions.api import create_app
from tests.helpers import decode, read_topic, start_projector, wait_until
from tests.integration.sessions._support import (
    Feed, RunningConsumer, activated_pairing, cohort_created, envelope, headers, pairing_data,
    wait_for_pairing,
)

pytestmark = pytest.mark.integration


def test_meetings_goals_notes_and_invitation_end_to_end(make_settings, request):
    settings = make_settings("sessions")
    feed = Feed(settings)
    feed.hris("mentor-1", email="ann@example.com", display_name="Ann", timezone="America/New_York")
    feed.hris("mentee-1", email="bob@example.com", display_name="Bob", timezone="Europe/London")
    feed.matching(cohort_created("c1"), *activated_pairing("p1"))
    feed.matching(envelope("PairingProposed", "pairing", "p2", 1, pairing_data(
        "p2", mentor="mentor-2", mentee="mentee-2", score=0.5, reasons=[], proposed_by="algorithm",
        matching_run_id=None, answer_by="2030-01-01T00:00:00.000Z")))
    app = create_app(settings)
    client = app.test_client()
    context = app.extensions["sessions"]
    mentor, mentee = headers(settings, "mentor-1"), headers(settings, "mentee-1")
    admin, stranger = headers(settings, "admin-1", "admin"), headers(settings, "someone-else")

    with RunningConsumer(settings):
        wait_for_pairing(context, "p1", "active")
        wait_for_pairing(context, "p2", "proposed")
        wait_until(lambda: context.participants.get("mentor-1"), message="HRIS profile")
    request.addfinalizer(start_projector(context))  # the worker's store projector: meetings view

    starts = utcnow().replace(microsecond=0) + timedelta(days=3)
    body = {"starts_at": starts.isoformat(), "duration_minutes": 45, "agenda": "Career plan"}

    # authorization and validation
    assert client.post("/v1/pairings/p1/meetings", json=body).status_code == 401
    assert client.post("/v1/pairings/p1/meetings", json=body, headers=stranger).status_code == 403
    assert client.post("/v1/pairings/nope/meetings", json=body, headers=admin).status_code == 404
    assert client.post("/v1/pairings/p2/meetings", json=body, headers=admin).status_code == 409
    bad = client.post("/v1/pairings/p1/meetings", json=dict(body, color="red"), headers=mentor)
    assert bad.status_code == 422 and "color" in bad.get_json()["errors"]
    assert bad.headers["Content-Type"].startswith("application/problem+json")
    too_long = client.post("/v1/pairings/p1/meetings", json=dict(body, duration_minutes=300), headers=mentor)
    assert too_long.status_code == 422 and "duration_minutes" in too_long.get_json()["errors"]
    past = client.post("/v1/pairings/p1/meetings", headers=mentor,
                       json=dict(body, starts_at=(utcnow() - timedelta(hours=1)).isoformat()))
    assert past.status_code == 422 and "starts_at" in past.get_json()["errors"]

    # schedule two, reschedule one, cancel it
    created = client.post("/v1/pairings/p1/meetings", json=body, headers=mentor)
    assert created.status_code == 201, created.get_json()
    meeting = created.get_json()
    meeting_id = meeting["meeting_id"]
    assert meeting["timezone"] == "America/New_York" and meeting["organizer_id"] == "mentor-1"
    assert meeting["agenda"] == "Career plan"
    other = client.post("/v1/pairings/p1/meetings", headers=mentee,
                        json={"starts_at": (starts + timedelta(days=7)).isoformat(), "duration_minutes": 30}).get_json()
    moved = client.post(f"/v1/meetings/{other['meeting_id']}/reschedule", headers=mentee,
                        json={"starts_at": (starts + timedelta(days=8)).isoformat()})
    assert moved.status_code == 200 and moved.get_json()["starts_at"] == rfc3339(starts + timedelta(days=8))
    cancelled = client.post(f"/v1/meetings/{other['meeting_id']}/cancel", json={"reason": "conflict"}, headers=mentee)
    assert cancelled.get_json()["status"] == "cancelled"
    assert client.post(f"/v1/meetings/{other['meeting_id']}/cancel", json={"reason": "teatime"},
                       headers=mentee).status_code == 422
    listing = client.get("/v1/pairings/p1/meetings", headers=admin).get_json()
    assert [m["status"] for m in listing["items"]] == ["scheduled", "cancelled"] and listing["next"] is None
    assert client.get("/v1/pairings/p1/meetings", headers=stranger).status_code == 403

    # invitation in the organiser's zone
    ics = client.get(f"/v1/meetings/{meeting_id}.ics", headers=mentee)
    assert ics.status_code == 200 and ics.headers["Content-Type"].startswith("text/calendar")
    text = ics.get_data(as_text=True).replace("\r\n ", "")
    local = starts.astimezone(ZoneInfo("America/New_York"))
    assert f"DTSTART;TZID=America/New_York:{local.strftime('%Y%m%dT%H%M%S')}" in text
    assert "TZID:America/New_York" in text and "mailto:ann@example.com" in text
    assert "DESCRIPTION:Career plan" in text  # the agenda, for a party
    assert "Career plan" not in client.get(f"/v1/meetings/{meeting_id}.ics", headers=admin).get_data(as_text=True)
    assert client.get(f"/v1/meetings/{meeting_id}.ics", headers=stranger).status_code == 403

    # complete it (in the past by now: move the service clock), with private notes
    context.clock = _Later(timedelta(days=4))
    done = client.post(f"/v1/meetings/{meeting_id}/complete", headers=mentee,
                       json={"notes": "We agreed on a reading list.", "duration_minutes": 50})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "held" and done.get_json()["held_minutes"] == 50
    assert client.get(f"/v1/meetings/{meeting_id}/notes", headers=mentor).get_json()["notes"] == \
        "We agreed on a reading list."
    assert client.get(f"/v1/meetings/{meeting_id}/notes", headers=admin).status_code == 403
    assert client.get(f"/v1/meetings/{meeting_id}/notes", headers=stranger).status_code == 403
    assert "notes" not in client.get(f"/v1/meetings/{meeting_id}", headers=admin).get_json()
    assert client.post(f"/v1/meetings/{meeting_id}/complete", json={}, headers=mentee).status_code == 409

    # the other party disputes the record: the pair only, once, never its recorder
    dispute = {"reason": "I waited; nobody came."}
    assert client.post(f"/v1/meetings/{other['meeting_id']}/dispute", json=dispute, headers=mentor).status_code == 409
    assert client.post(f"/v1/meetings/{meeting_id}/dispute", json=dispute, headers=stranger).status_code == 403
    assert client.post(f"/v1/meetings/{meeting_id}/dispute", json=dispute, headers=admin).status_code == 403
    own = client.post(f"/v1/meetings/{meeting_id}/dispute", json=dispute, headers=mentee)
    assert own.status_code == 409 and own.get_json()["code"] == "recorder_cannot_dispute"
    disputed = client.post(f"/v1/meetings/{meeting_id}/dispute", json=dispute, headers=mentor)
    assert disputed.status_code == 200, disputed.get_json()
    assert disputed.get_json()["status"] == "held" and disputed.get_json()["recorded_by"] == "mentee-1"
    shown = client.get(f"/v1/meetings/{meeting_id}", headers=admin).get_json()["disputed"]
    assert shown["by"] == "mentor-1" and shown["reason"] == dispute["reason"] and shown["at"]
    assert client.post(f"/v1/meetings/{meeting_id}/dispute", json={"reason": "again"},
                       headers=mentor).status_code == 409
    listed = client.get("/v1/pairings/p1/meetings", headers=mentee).get_json()["items"]
    assert [m["disputed"]["by"] for m in listed if m["meeting_id"] == meeting_id] == ["mentor-1"]

    # goals with optimistic revisions
    goals = {"expected_revision": 0, "goals": [{"title": "Public speaking", "status": "open", "progress": 10,
                                                  "target_date": "2025-12-01"}]}
    assert client.put("/v1/pairings/p1/goals", json=goals, headers=stranger).status_code == 403
    first = client.put("/v1/pairings/p1/goals", json=goals, headers=mentee)
    assert first.status_code == 200 and first.get_json()["revision"] == 1
    goal_id = first.get_json()["goals"][0]["goal_id"]
    stale = client.put("/v1/pairings/p1/goals", json=goals, headers=mentor)
    assert stale.status_code == 409 and stale.get_json()["current_revision"] == 1
    nested_unknown = client.put("/v1/pairings/p1/goals", headers=mentor, json={
        "expected_revision": 1, "goals": [{"title": "x", "status": "open", "owner": "me"}]})
    assert nested_unknown.status_code == 422
    second = client.put("/v1/pairings/p1/goals", headers=mentor, json={"expected_revision": 1, "goals": [
        {"goal_id": goal_id, "title": "Public speaking", "status": "achieved", "progress": 100}]})
    assert second.get_json()["revision"] == 2
    current = client.get("/v1/pairings/p1/goals", headers=mentee).get_json()
    assert current["revision"] == 2 and current["goals"][0]["status"] == "achieved"
    history = client.get("/v1/pairings/p1/goals/revisions", headers=admin).get_json()
    assert [r["revision"] for r in history["items"]] == [1, 2]
    assert [r["revised_by"] for r in history["items"]] == ["mentee-1", "mentor-1"]

    # the relay publishes this service's events, contract-shaped
    relay = EventRelay(settings, context.store, make_producer(settings))
    while relay.publish_pending():
        pass
    events = [decode(r) for r in read_topic(settings, topics.SESSIONS, expect=9)]
    kinds = [e["event_type"] for e in events]
    assert sorted(kinds) == sorted(["MeetingScheduled", "MeetingScheduled", "MeetingRescheduled", "MeetingCancelled",
                                    "MeetingHeld", "MeetingDisputed", "GoalsRevised", "GoalsRevised", "GoalAchieved"])
    assert "nobody came" not in str(events)  # the dispute's reason stays in the commit
    held = next(e for e in events if e["event_type"] == "MeetingHeld")
    assert held["data"] == {"meeting_id": meeting_id, "pairing_id": "p1", "cohort_id": "c1",
                            "mentor_id": "mentor-1", "mentee_id": "mentee-1", "held_at": rfc3339(starts),
                            "duration_minutes": 50, "attendees": ["mentor-1", "mentee-1"],
                            "recorded_by": "mentee-1", "actor_id": "mentee-1"}
    assert held["producer"] == "sessions" and held["aggregate_type"] == "meeting"
    assert "reading list" not in str(events) and "Career plan" not in str(events)
    revised = [e for e in events if e["event_type"] == "GoalsRevised"]
    assert [e["data"]["revision"] for e in revised] == [1, 2]
    assert revised[0]["aggregate_id"] == "p1" and revised[0]["aggregate_type"] == "pairing-goals"
    assert revised[0]["data"]["goals"][0]["title"] == "Public speaking"


class _Later:
    def __init__(self, delta):
        self.delta = delta

    def now(self):
        return utcnow() + self.delta
