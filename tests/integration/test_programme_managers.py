"""Programme managers (issue 12) on the real servers: naming them, what they may do in their
programme and nowhere else, every service learning a change from matching's topic, and events
saying who acted and for whom."""
from __future__ import annotations

import threading

import pytest

from shared import topics
from shared.events.catalog import matching as ev
from shared.kafka import make_producer
from shared.relay import EventRelay
from tests.helpers import decode, read_topic, wait_until
from tests.integration.matching.conftest import ADMIN, ADMIN_H, EMPLOYEES, Harness, token

pytestmark = pytest.mark.integration

MANAGER, ELSEWHERE = "E001", "M002"
MANAGER_H, ELSEWHERE_H = token(MANAGER), token(ELSEWHERE)  # plain participant tokens


@pytest.fixture
def harness(make_settings):
    harness = Harness(make_settings("matching"))
    for employee_id, (level, dept, manager, tz) in EMPLOYEES.items():
        harness.hire(employee_id, level=level, department=dept, manager_id=manager, tz=tz)
    yield harness
    harness.close()


def _program_of(harness, cohort_id: str) -> str:
    return harness.client.get(f"/v1/cohorts/{cohort_id}", headers=ADMIN_H).json["program_id"]


def _set(harness, program_id: str, managers, headers=ADMIN_H):
    return harness.client.put(f"/v1/programs/{program_id}/managers", json={"managers": managers}, headers=headers)


def _managed(harness, headers) -> list[str]:
    response = harness.client.get("/v1/me/managed-programs", headers=headers)
    assert response.status_code == 200, response.json
    return [item["program_id"] for item in response.json["items"]]


def test_only_platform_admins_name_managers_and_only_known_employees(harness):
    program_id = _program_of(harness, harness.cohort(status="enrolling"))

    named = _set(harness, program_id, [MANAGER, "M001", MANAGER])
    assert named.status_code == 200, named.json
    assert named.json == {"program_id": program_id, "managers": ["E001", "M001"]}  # sorted, once each
    assert _managed(harness, MANAGER_H) == [program_id]
    assert harness.client.get("/v1/me/managed-programs", headers=MANAGER_H).json["items"][0]["name"] \
        == "Engineering mentoring"

    # a manager cannot name managers, not even in their own programme; nor can anyone else
    assert _set(harness, program_id, [MANAGER, ELSEWHERE], headers=MANAGER_H).status_code == 403
    assert _set(harness, program_id, [ELSEWHERE], headers=ELSEWHERE_H).status_code == 403
    assert harness.client.put(f"/v1/programs/{program_id}/managers", json={"managers": []}).status_code == 401

    unknown = _set(harness, program_id, [MANAGER, "NOBODY1"])
    assert unknown.status_code == 422 and unknown.json["code"] == "employee_unknown"
    assert "NOBODY1" in unknown.json["detail"] and "managers" in unknown.json["errors"]
    for body in ({}, {"managers": "E001"}, {"managers": [""]}, {"managers": [7]}, {"managers": [], "extra": 1},
                 {"managers": [f"E{i:03}" for i in range(51)]}):
        response = harness.client.put(f"/v1/programs/{program_id}/managers", json=body, headers=ADMIN_H)
        assert response.status_code == 422, (body, response.json)
    assert _set(harness, "prg-none", [MANAGER]).status_code == 404
    assert _managed(harness, MANAGER_H) == [program_id]  # nothing refused changed anything

    assert _set(harness, program_id, []).json["managers"] == []
    assert _managed(harness, MANAGER_H) == []

    harness.settle()
    managers_set = [e for c in harness.context.store.read_all() for e in c.events
                    if e.event_type == ev.PROGRAM_MANAGERS_SET]
    assert [e.data["managers"] for e in managers_set] == [["E001", "M001"], []]
    assert all(e.data["actor_id"] == e.data["set_by"] == ADMIN for e in managers_set)


def test_a_manager_runs_a_dry_run_in_their_programme_and_is_refused_in_another(harness):
    cohort_id = harness.cohort(status="matching")
    assert harness.enroll(cohort_id, "M001", "mentor", capacity=2).status_code == 201
    assert harness.enroll(cohort_id, "E002", "mentee").status_code == 201
    other_cohort = harness.cohort(status="matching")  # another programme, nobody manages it
    assert _set(harness, _program_of(harness, cohort_id), [MANAGER]).status_code == 200

    started = harness.client.post(f"/v1/cohorts/{cohort_id}/matching-runs", json={"dry_run": True}, headers=MANAGER_H)
    assert started.status_code == 202, started.json

    def finished():
        response = harness.client.get(f"/v1/matching-runs/{started.json['run_id']}", headers=MANAGER_H)
        assert response.status_code == 200, response.json
        return response.json if response.json["status"] != "running" else None

    run = wait_until(finished, timeout_s=60, interval_s=0.05, message="the manager's dry run")
    assert run["status"] == "completed" and run["dry_run"] and run["requested_by"] == MANAGER
    assert [(p["mentor_id"], p["mentee_id"]) for p in run["proposals"]] == [("M001", "E002")]

    refused = harness.client.post(f"/v1/cohorts/{other_cohort}/matching-runs", json={"dry_run": True},
                                  headers=MANAGER_H)
    assert refused.status_code == 403 and refused.json["code"] == "not_a_manager"
    assert harness.client.get(f"/v1/matching-runs/{started.json['run_id']}", headers=ELSEWHERE_H).status_code == 403
    assert harness.client.post("/v1/programs", json={"name": "Mine"}, headers=MANAGER_H).status_code == 403
    assert harness.client.get(f"/v1/cohorts/{other_cohort}/stats", headers=MANAGER_H).status_code == 403
    # inside: a cohort of their own programme and its settings
    created = harness.client.post(f"/v1/programs/{_program_of(harness, cohort_id)}/cohorts", headers=MANAGER_H,
                                  json={"name": "Autumn", "starts_on": "2026-09-01", "ends_on": "2027-02-28"})
    assert created.status_code == 201, created.json
    assert harness.client.get(f"/v1/cohorts/{cohort_id}/stats", headers=MANAGER_H).json["enrolled"] == 2


def test_an_answer_given_for_the_mentee_says_who_clicked_and_for_whom(harness):
    cohort_id = harness.cohort(status="matching")
    assert harness.enroll(cohort_id, "M001", "mentor", capacity=2).status_code == 201
    assert harness.enroll(cohort_id, "E002", "mentee").status_code == 201
    assert _set(harness, _program_of(harness, cohort_id), [MANAGER]).status_code == 200
    proposed = harness.client.post(f"/v1/cohorts/{cohort_id}/pairings", json={"mentor_id": "M001", "mentee_id": "E002"},
                                   headers=MANAGER_H)
    assert proposed.status_code == 201, proposed.json
    pairing_id = proposed.json["pairing_id"]

    for_mentee = harness.client.post(f"/v1/pairings/{pairing_id}/accept", json={"role": "mentee"}, headers=MANAGER_H)
    assert for_mentee.status_code == 200 and for_mentee.json["mentee_accepted"], for_mentee.json
    own = harness.client.post(f"/v1/pairings/{pairing_id}/accept", json={}, headers=token("M001"))
    assert own.status_code == 200 and own.json["status"] == "active", own.json

    loaded = harness.context.commands.pairings.load(pairing_id).events
    accepted = [e.data for e in loaded if e.event_type == ev.PAIRING_ACCEPTED]
    assert accepted[0]["accepted_by"] == accepted[0]["actor_id"] == MANAGER
    assert accepted[0]["on_behalf_of"] == "E002" and accepted[0]["role"] == "mentee"
    assert accepted[1]["accepted_by"] == accepted[1]["actor_id"] == "M001" and "on_behalf_of" not in accepted[1]

    # the same on the topic other systems read
    producer = make_producer(harness.settings)
    relay = EventRelay(harness.settings, harness.context.store, producer)
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    try:
        records = [decode(r) for r in read_topic(harness.settings, topics.MATCHING, expect=len(list(
            e for c in harness.context.store.read_all() for e in c.events)))]
    finally:
        relay.stop()
        thread.join(timeout=30)
    on_topic = [r["data"] for r in records if r["event_type"] == ev.PAIRING_ACCEPTED]
    assert on_topic[0]["on_behalf_of"] == "E002" and on_topic[0]["accepted_by"] == MANAGER


def test_sessions_feedback_and_notifications_follow_a_manager_change_once_its_event_arrives(make_settings):
    from services.feedback.api import create_app as feedback_app
    from services.feedback.worker import build_consumer as feedback_consumer
    from services.notifications.api import create_app as notifications_app
    from services.notifications.worker import build_consumer as notifications_consumer
    from services.sessions.api import create_app as sessions_app
    from services.sessions.worker import build_consumer as sessions_consumer

    harness = Harness(make_settings("matching"))
    for employee_id, (level, dept, manager, tz) in EMPLOYEES.items():
        harness.hire(employee_id, level=level, department=dept, manager_id=manager, tz=tz)
    apps = {"sessions": sessions_app(make_settings("sessions")), "feedback": feedback_app(make_settings("feedback")),
            "notifications": notifications_app(make_settings("notifications"))}
    builders = {"sessions": sessions_consumer, "feedback": feedback_consumer, "notifications": notifications_consumer}
    producer = make_producer(harness.settings)
    relay = EventRelay(harness.settings, harness.context.store, producer)
    runners = [builders[name](apps[name].extensions[name].settings, make_producer(apps[name].extensions[name].settings),
                              context=apps[name].extensions[name]) for name in apps]
    threads = [threading.Thread(target=worker.run, daemon=True) for worker in (relay, *runners)]
    for thread in threads:
        thread.start()
    try:
        cohort_id = harness.cohort(status="enrolling")
        program_id = _program_of(harness, cohort_id)
        # what each service guards with the programme's scope
        routes = {"sessions": f"/v1/cohorts/{cohort_id}/engagement",
                  "feedback": f"/v1/cohorts/{cohort_id}/feedback/summary",
                  "notifications": f"/v1/cohorts/{cohort_id}/chat-channel"}

        def answers(headers) -> dict:
            return {name: apps[name].test_client().get(path, headers=headers).status_code
                    for name, path in routes.items()}

        # the cohort has arrived everywhere (an admin gets past the door) and the manager is nobody yet
        wait_until(lambda: all(status != 404 for status in answers(ADMIN_H).values()), timeout_s=60,
                   message="the cohort to reach every service")
        assert set(answers(MANAGER_H).values()) == {403}

        assert _set(harness, program_id, [MANAGER]).status_code == 200
        wait_until(lambda: all(status == 200 for status in answers(MANAGER_H).values()), timeout_s=60,
                   message="every service to let the new manager in")
        assert set(answers(ELSEWHERE_H).values()) == {403}

        assert _set(harness, program_id, [ELSEWHERE]).status_code == 200
        wait_until(lambda: set(answers(MANAGER_H).values()) == {403}, timeout_s=60,
                   message="every service to shut the former manager out")
        assert set(answers(ELSEWHERE_H).values()) == {200}
    finally:
        relay.stop()
        for runner in runners:
            runner.stop()
        for thread in threads:
            thread.join(timeout=30)
        harness.close()


def test_a_manager_reads_the_delivery_log_of_their_cohorts_events_only(make_settings):
    from services.notifications.api import create_app as notifications_app
    from shared.events.envelope import new_event
    from shared.scopes import ProgrammeScopes

    app = notifications_app(make_settings("notifications"))
    context = app.extensions["notifications"]
    handlers = ProgrammeScopes(context.database).handlers()  # as the worker applies matching's events
    for event_type, aggregate_id, version, data in (
            (ev.PROGRAM_CREATED, "prg-1", 1, {"program_id": "prg-1", "name": "P", "created_by": ADMIN}),
            (ev.PROGRAM_MANAGERS_SET, "prg-1", 2, {"program_id": "prg-1", "managers": [MANAGER], "set_by": ADMIN}),
            (ev.COHORT_CREATED, "coh-1", 1, {"cohort_id": "coh-1", "program_id": "prg-1"})):
        handlers[event_type](new_event(event_type=event_type, schema_version=1, producer="matching",
                                       aggregate_type="x", aggregate_id=aggregate_id, aggregate_version=version,
                                       data=data, correlation_id="c", causation_id=None))
    # a delivery the routing made of an event of that cohort
    context.deliveries.collection.insert_one({"_id": "d-1", "source_event_id": "ev-1", "recipient_id": "E002",
                                              "channel": "email", "status": "sent", "attempts": 1, "history": [],
                                              "context": {"cohort_id": "coh-1"}})
    client = app.test_client()
    seen = client.get("/v1/events/ev-1/deliveries", headers=MANAGER_H)
    assert seen.status_code == 200 and [d["delivery_id"] for d in seen.json["items"]] == ["d-1"]
    assert client.get("/v1/events/ev-1/deliveries", headers=ELSEWHERE_H).status_code == 403
    assert client.get("/v1/events/ev-1/deliveries", headers=ADMIN_H).status_code == 200
    assert client.get("/v1/events/ev-unknown/deliveries", headers=MANAGER_H).status_code == 403
