"""The pair's agreement and goals' milestones, action items and achievement over HTTP against the real
Kafka and MongoDB (issue 15): who may do what, optimistic revisions, the events the relay publishes
(no free text in them), and the at-risk clock following the cadence both parties confirmed."""
from __future__ import annotations

from datetime import timedelta

import pytest

from shared import topics
from shared.clock import ManualClock, rfc3339, utcnow
from shared.kafka import make_producer
from shared.relay import EventRelay
from services.sessions.api import create_app
from tests.helpers import decode, read_topic, start_projector
from tests.integration.sessions._support import (
    Feed, RunningConsumer, activated_pairing, cohort_created, headers, wait_for_pairing,
)

pytestmark = pytest.mark.integration

TERMS = {"cadence_days": 30, "channel": "video", "confidentiality": "between_us"}


def test_the_agreement_both_confirm_and_goals_with_milestones_end_to_end(make_settings, request):
    settings = make_settings("sessions")
    feed = Feed(settings)
    clock = ManualClock(utcnow())
    # cohort cadence 14; the pairing became active 20 days ago and has not met: at risk by the cohort's clock
    feed.matching(cohort_created("c1", cadence=14),
                  *activated_pairing("p1", activated_at=rfc3339(utcnow() - timedelta(days=20))))
    app = create_app(settings, clock=clock)
    client = app.test_client()
    context = app.extensions["sessions"]
    mentor, mentee = headers(settings, "mentor-1"), headers(settings, "mentee-1")
    admin, stranger = headers(settings, "admin-1", "admin"), headers(settings, "someone-else")
    with RunningConsumer(settings):
        wait_for_pairing(context, "p1")
    request.addfinalizer(start_projector(context))

    empty = client.get("/v1/pairings/p1/agreement", headers=mentee).get_json()
    assert empty["revision"] == 0 and empty["in_force"] is None and empty["confirmed"] is False

    # only the pair writes it; bodies are bounded
    body = dict(TERMS, expected_revision=0, expectations=["Honest feedback on my design reviews"])
    assert client.put("/v1/pairings/p1/agreement", json=body, headers=stranger).status_code == 403
    assert client.put("/v1/pairings/p1/agreement", json=body, headers=admin).status_code == 403
    bad = client.put("/v1/pairings/p1/agreement", json=dict(body, channel="pigeon", cadence_days=0), headers=mentee)
    assert bad.status_code == 422 and {"channel", "cadence_days"} <= set(bad.get_json()["errors"])
    too_many = client.put("/v1/pairings/p1/agreement", json=dict(body, expectations=["x"] * 6), headers=mentee)
    assert too_many.status_code == 422 and "expectations" in too_many.get_json()["errors"]

    first = client.put("/v1/pairings/p1/agreement", json=body, headers=mentee)
    assert first.status_code == 200 and first.get_json()["revision"] == 1
    stale = client.put("/v1/pairings/p1/agreement", headers=mentor,
                       json=dict(TERMS, expected_revision=0, expectations=["Bring one question"]))
    assert stale.status_code == 409 and stale.get_json()["current_revision"] == 1
    second = client.put("/v1/pairings/p1/agreement", headers=mentor,
                        json=dict(TERMS, expected_revision=1, expectations=["Bring one question"])).get_json()
    assert second["revision"] == 2
    assert second["expectations"] == {"mentee-1": ["Honest feedback on my design reviews"],
                                      "mentor-1": ["Bring one question"]}
    assert client.get("/v1/pairings/p1/agreement", headers=admin).get_json()["expectations"] is None

    # both confirm the revision they read; one confirmation changes nothing yet
    stale_confirm = client.post("/v1/pairings/p1/agreement/confirm", json={"revision": 1}, headers=mentee)
    assert stale_confirm.status_code == 409 and stale_confirm.get_json()["current_revision"] == 2
    assert client.post("/v1/pairings/p1/agreement/confirm", json={}, headers=admin).status_code == 403
    one = client.post("/v1/pairings/p1/agreement/confirm", json={"revision": 2}, headers=mentee).get_json()
    assert one["confirmed_by"] == ["mentee-1"] and one["confirmed"] is False and one["in_force"] is None
    assert context.risk.check_all(clock.now()) == {"c1": 1}  # still the cohort's 14 days
    both = client.post("/v1/pairings/p1/agreement/confirm", json={"revision": 2}, headers=mentor).get_json()
    assert both["confirmed"] is True and both["in_force"]["cadence_days"] == 30

    # goals with milestones and action items, then achieved
    goals = client.put("/v1/pairings/p1/goals", headers=mentee, json={"expected_revision": 0, "goals": [{
        "title": "Give a conference talk", "status": "open",
        "milestones": [{"text": "Submit the abstract", "owner_id": "mentee-1", "due_on": "2030-03-01"}],
        "action_items": [{"text": "Introduce me to the programme committee", "owner_id": "mentor-1"}]}]})
    assert goals.status_code == 200, goals.get_json()
    goal = goals.get_json()["goals"][0]
    assert goal["milestones"][0]["text"] == "Submit the abstract" and goal["milestones"][0]["done"] is False
    stranger_owner = client.put("/v1/pairings/p1/goals", headers=mentee, json={"expected_revision": 1, "goals": [
        dict(goal, action_items=[{"text": "x", "owner_id": "someone-else"}])]})
    assert stranger_owner.status_code == 422
    ticked = client.put("/v1/pairings/p1/goals", headers=mentor, json={"expected_revision": 1, "goals": [
        dict(goal, milestones=[dict(goal["milestones"][0], done=True)])]}).get_json()
    assert ticked["revision"] == 2 and ticked["goals"][0]["milestones"][0]["done"] is True
    assert ticked["goals"][0]["action_items"] == goal["action_items"]
    assert client.post(f"/v1/pairings/p1/goals/{goal['goal_id']}/achieve", headers=stranger).status_code == 403
    assert client.post("/v1/pairings/p1/goals/nope/achieve", headers=mentee).status_code == 404
    achieved = client.post(f"/v1/pairings/p1/goals/{goal['goal_id']}/achieve", headers=mentee).get_json()
    assert achieved["revision"] == 3 and achieved["goals"][0]["status"] == "achieved"
    again = client.post(f"/v1/pairings/p1/goals/{goal['goal_id']}/achieve", headers=mentee).get_json()
    assert again["revision"] == 3  # achieving an achieved goal changes nothing

    # the at-risk clock follows the agreed cadence: 20 quiet days are within 30
    assert context.risk.check_all(clock.now()) == {"c1": 1}  # announced earlier; only a held meeting clears it
    report = client.get("/v1/cohorts/c1/engagement", headers=admin).get_json()
    assert report["items"][0]["cadence_days"] == 30 and report["items"][0]["cadence_agreed"] is True
    assert report["items"][0]["status"] == "too_early"

    # the relay publishes the events, without anyone's words
    relay = EventRelay(settings, context.store, make_producer(settings))
    while relay.publish_pending():
        pass
    events = [decode(r) for r in read_topic(settings, topics.SESSIONS, expect=10)]
    # one stream (the pairing's), so one key: in the order they were stored; refused requests stored nothing
    assert [e["event_type"] for e in events] == [
        "AgreementRevised", "AgreementRevised", "AgreementConfirmedByParty", "PairingAtRisk",
        "AgreementConfirmedByParty", "AgreementConfirmed", "GoalsRevised", "GoalsRevised", "GoalsRevised",
        "GoalAchieved"]
    published = str(events)
    for words in ("design reviews", "Bring one question", "Submit the abstract", "programme committee"):
        assert words not in published
    confirmed = next(e for e in events if e["event_type"] == "AgreementConfirmed")
    assert confirmed["aggregate_id"] == "p1" and confirmed["aggregate_type"] == "pairing-agreement"
    assert {k: confirmed["data"][k] for k in ("revision", "cadence_days", "channel", "confidentiality")} == \
        {"revision": 2, **TERMS}
    achieved_event = next(e for e in events if e["event_type"] == "GoalAchieved")
    assert achieved_event["data"]["goal_id"] == goal["goal_id"] and achieved_event["data"]["achieved_by"] == "mentee-1"
    milestone = next(e for e in events if e["event_type"] == "GoalsRevised")["data"]["goals"][0]["milestones"][0]
    assert milestone["owner_id"] == "mentee-1" and milestone["due_on"] == "2030-03-01" and "text" not in milestone


def test_a_quiet_pairing_with_a_longer_agreed_cadence_is_not_at_risk(make_settings, request):
    """The same 20 quiet days: at risk by the cohort's 14 days, fine once both agreed to 30."""
    settings = make_settings("sessions")
    feed = Feed(settings)
    clock = ManualClock(utcnow())
    quiet_since = rfc3339(utcnow() - timedelta(days=20))
    feed.matching(cohort_created("c1", cadence=14), *activated_pairing("p1", activated_at=quiet_since),
                  *activated_pairing("p2", mentor="mentor-2", mentee="mentee-2", activated_at=quiet_since))
    app = create_app(settings, clock=clock)
    client = app.test_client()
    context = app.extensions["sessions"]
    with RunningConsumer(settings):
        wait_for_pairing(context, "p1")
        wait_for_pairing(context, "p2")
    request.addfinalizer(start_projector(context))
    mentor, mentee = headers(settings, "mentor-1"), headers(settings, "mentee-1")
    assert client.put("/v1/pairings/p1/agreement", json=dict(TERMS, expected_revision=0),
                      headers=mentor).status_code == 200
    for party in (mentor, mentee):
        assert client.post("/v1/pairings/p1/agreement/confirm", json={"revision": 1}, headers=party).status_code == 200
    assert context.risk.check_all(clock.now()) == {"c1": 1}  # p2 only: no agreement, the cohort's 14 days
    assert [e.event_type for e in context.store.load("p1").events if e.event_type == "PairingAtRisk"] == []
    clock.advance(days=11)  # 31 days without a first meeting: more than the agreed cadence
    assert context.risk.check_all(clock.now()) == {"c1": 2}
