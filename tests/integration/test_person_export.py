"""Subject access export (GDPR Art. 15, issue 13): `GET /v1/people/{employee_id}/export` on every
service and `python -m shared.cli export-person`, on the real MongoDB and Kafka.

One pair is seeded through the services' own APIs (and the other producers' events fed to the
consuming projections, as the workers would): the person (`PERSON`, the mentee) and their mentor
each write private text, give feedback, send kudos and answer a review and a survey. The person's
export must hold everything of theirs, with the events, and none of the mentor's private words or
individual answers; a stranger gets 403; the CLI writes one file with all four services' parts.
"""
from __future__ import annotations

import json
import os
import stat
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from werkzeug.serving import make_server

from shared import cli
from shared.aggregate import Causation
from shared.clock import rfc3339, utcnow
from shared.events.envelope import Envelope
from shared.http.auth import mint_token
from tests.helpers import apply_consumed, start_projector
from tests.integration.feedback import support as feedback_support
from tests.integration.matching.conftest import ADMIN_H, EMPLOYEES, Harness
from tests.integration.notifications.servers import SmtpSink, person
from tests.integration.notifications.test_delivery_rules import feed
from tests.integration.sessions import _support as sessions_support

pytestmark = pytest.mark.integration

SERVICES = ("matching", "sessions", "feedback", "notifications")
MENTOR, PERSON, STRANGER, ADMIN = "M001", "E002", "E003", "A000001"
ACTIVATED_AT = "2026-01-05T09:00:00.000Z"

# Words only their author may find in an export.
PERSON_WORDS = ("PERSON GOALS SUMMARY", "PERSON REQUEST MESSAGE", "PERSON AGENDA", "PERSON NOTE",
                "PERSON PRIVATE COMMENT", "PERSON KUDOS NOTE", "Learn Rust")
PERSON_ZONE, MENTOR_ZONE = "Asia/Kathmandu", "Pacific/Chatham"  # their availability's zones
MENTOR_WORDS = ("MENTOR GOALS SUMMARY", "MENTOR AGENDA", "MENTOR NOTE", "MENTOR DISPUTE", "MENTOR SECRET COMMENT")


def _auth(subject: str, *roles: str) -> dict:
    return {"Authorization": "Bearer " + mint_token(os.environ["JWT_SECRET"], subject, list(roles or ["participant"]))}


def _ok(response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


class Seeded:
    """The four APIs (test clients on real servers) and the ids of what was seeded."""

    def __init__(self, make_settings, smtp_url: str):
        self.harness = Harness(make_settings("matching"))
        from services.feedback.api import create_app as feedback_app
        from services.notifications.api import create_app as notifications_app
        from services.sessions.api import create_app as sessions_app

        self.apps = {"matching": self.harness.app, "sessions": sessions_app(make_settings("sessions")),
                     "feedback": feedback_app(make_settings("feedback")),
                     "notifications": notifications_app(make_settings("notifications", smtp_url=smtp_url))}
        self.contexts = {name: app.extensions[name] for name, app in self.apps.items()}
        self.halts = [start_projector(self.contexts[name]) for name in ("sessions", "feedback")]
        self.ids: dict = {}

    def client(self, service: str):
        return self.apps[service].test_client()

    def close(self):
        for halt in self.halts:
            halt()
        self.harness.close()

    # -- matching: enrolments with private text, the person's request to the mentor, both accept -
    def matching(self):
        harness = self.harness
        for employee_id, (level, dept, manager, tz) in EMPLOYEES.items():
            harness.hire(employee_id, level=level, department=dept, manager_id=manager, tz=tz)
        cohort_id = harness.cohort(status="matching")
        _ok(harness.client.patch(f"/v1/cohorts/{cohort_id}", json={"matching_style": "mentee_choice"},
                                 headers=ADMIN_H))
        assert harness.enroll(cohort_id, MENTOR, "mentor", capacity=2, goals_summary="MENTOR GOALS SUMMARY").status_code == 201
        assert harness.enroll(cohort_id, PERSON, "mentee", goals_summary="PERSON GOALS SUMMARY",
                              preferences={"languages": ["en"], "same_timezone": True}).status_code == 201
        # the person chooses their mentor and asks them, with a message (mentee choice, issue 15)
        pairing = _ok(harness.client.post(f"/v1/cohorts/{cohort_id}/requests", headers=_auth(PERSON),
                                          json={"mentor_id": MENTOR, "message": "PERSON REQUEST MESSAGE"}), 201)
        # the person accepted by asking: the mentor's accept makes the pairing active
        _ok(harness.client.post(f"/v1/pairings/{pairing['pairing_id']}/accept", json={}, headers=_auth(MENTOR)))
        self.ids.update(cohort_id=cohort_id, pairing_id=pairing["pairing_id"])

    # -- sessions: two meetings, each party's agenda and notes, a dispute, goals ------------------
    def sessions(self):
        context, client = self.contexts["sessions"], self.client("sessions")
        pairing_id, cohort_id = self.ids["pairing_id"], self.ids["cohort_id"]
        handlers = context.projections()[1].handlers()  # PairingsProjection, as the worker feeds it
        for raw in [sessions_support.cohort_created(cohort_id),
                    *sessions_support.activated_pairing(pairing_id, cohort_id, MENTOR, PERSON, ACTIVATED_AT)]:
            envelope = Envelope.from_dict(raw)
            handlers[envelope.event_type](envelope)
        meetings = {}
        for organiser, author, words in ((PERSON, MENTOR, "MENTOR NOTE"), (MENTOR, PERSON, "PERSON NOTE")):
            agenda = "PERSON AGENDA" if organiser == PERSON else "MENTOR AGENDA"
            starts = rfc3339(utcnow() + timedelta(days=10 + len(meetings)))
            meeting = _ok(client.post(f"/v1/pairings/{pairing_id}/meetings", headers=_auth(organiser),
                                      json={"starts_at": starts, "duration_minutes": 45, "agenda": agenda}), 201)
            held_at = rfc3339(utcnow() - timedelta(hours=3 - len(meetings)))
            _ok(client.post(f"/v1/meetings/{meeting['meeting_id']}/complete", headers=_auth(author),
                            json={"held_at": held_at, "notes": words}))
            meetings[author] = (meeting["meeting_id"], held_at)
        # the mentor contests the person's record of the second meeting: the reason is the mentor's
        _ok(client.post(f"/v1/meetings/{meetings[PERSON][0]}/dispute", headers=_auth(MENTOR),
                        json={"reason": "MENTOR DISPUTE"}))
        _ok(client.put(f"/v1/pairings/{pairing_id}/goals", headers=_auth(PERSON), json={
            "expected_revision": 0, "goals": [{"title": "Learn Rust", "status": "open", "progress": 10}]}))
        self.ids["meetings"] = meetings
        # each one's weekly availability (issue 15): the person's own, in zones nobody else uses here
        for who, day, zone in ((PERSON, "tue", PERSON_ZONE), (MENTOR, "wed", MENTOR_ZONE)):
            _ok(client.put("/v1/me/availability", headers=_auth(who), json={
                "weekly": [{"day": day, "start": "07:15", "end": "09:45"}], "time_zone": zone}))

    # -- feedback: ratings with shared and unshared comments, kudos, reviews, surveys -------------
    def feedback(self):
        context, client = self.contexts["feedback"], self.client("feedback")
        pairing_id, cohort_id = self.ids["pairing_id"], self.ids["cohort_id"]
        programme = context.projections()[0]  # ProgrammeView
        raws = [feedback_support.cohort_created(cohort_id),
                feedback_support.pairing_proposed(pairing_id, cohort_id, MENTOR, PERSON),
                feedback_support.pairing_activated(pairing_id, cohort_id, MENTOR, PERSON, activated_at=ACTIVATED_AT)]
        raws += [feedback_support.meeting_held(meeting_id, pairing_id, cohort_id, MENTOR, PERSON, held_at=held_at)
                 for meeting_id, held_at in self.ids["meetings"].values()]
        for raw in raws:
            apply_consumed(programme, Envelope.from_dict(raw))
        base = f"/v1/pairings/{pairing_id}"
        _ok(client.post(f"{base}/feedback", headers=_auth(PERSON),
                        json={"rating": 5, "comment": "PERSON PRIVATE COMMENT", "share_comment": False}), 201)
        _ok(client.post(f"{base}/feedback", headers=_auth(MENTOR),
                        json={"rating": 2, "comment": "MENTOR SECRET COMMENT", "share_comment": False}), 201)
        _ok(client.post(f"{base}/feedback", headers=_auth(MENTOR), json={
            "rating": 4, "meeting_id": self.ids["meetings"][MENTOR][0], "comment": "MENTOR SHARED COMMENT",
            "share_comment": True}), 201)
        _ok(client.post(f"{base}/kudos", headers=_auth(PERSON), json={"note": "PERSON KUDOS NOTE"}), 201)
        _ok(client.post(f"{base}/kudos", headers=_auth(MENTOR), json={"note": "MENTOR KUDOS NOTE"}), 201)
        assert context.commands.request_due_reviews() >= 2
        assert context.commands.request_surveys(cohort_id, Causation(correlation_id="test", causation_id=None)) == 2
        context.projector.wait_for(context.store.current_position(), timeout_s=30)
        answers = {PERSON: ({"goal_progress": 4, "satisfaction": 5}, {"recommend_score": 9}),
                   MENTOR: ({"goal_progress": 1, "satisfaction": 2}, {"recommend_score": 3})}
        for who, (review, survey) in answers.items():
            reviews = _ok(client.get("/v1/me/reviews", headers=_auth(who)))["items"]
            surveys = _ok(client.get("/v1/me/surveys", headers=_auth(who)))["items"]
            _ok(client.post(f"/v1/reviews/{reviews[-1]['review_id']}/answers", headers=_auth(who), json=review), 201)
            _ok(client.post(f"/v1/surveys/{surveys[0]['survey_id']}/answers", headers=_auth(who), json=survey), 201)
            self.ids[f"review|{who}"], self.ids[f"survey|{who}"] = reviews[-1]["review_id"], surveys[0]["survey_id"]
        context.projector.wait_for(context.store.current_position(), timeout_s=30)

    # -- notifications: preferences, and a proposal each party is told about ---------------------
    def notifications(self):
        context, client = self.contexts["notifications"], self.client("notifications")
        for who in (MENTOR, PERSON):
            feed(context, person(who), hris=True)
        _ok(client.put("/v1/me/preferences", headers=_auth(PERSON), json={"quiet_hours": {"start": "22:00", "end": "07:00"}}))
        proposed = feedback_support.pairing_proposed(self.ids["pairing_id"], self.ids["cohort_id"], MENTOR, PERSON)
        proposed["occurred_at"] = rfc3339(utcnow())
        proposed["data"]["answer_by"] = rfc3339(utcnow() + timedelta(days=7))
        feed(context, proposed)
        context.projector.catch_up()  # the worker's inbox index
        assert _ok(client.get("/v1/me/notifications", headers=_auth(PERSON)))["items"]

    def export(self, service: str, caller: str = PERSON, *roles: str) -> dict:
        return _ok(self.client(service).get(f"/v1/people/{PERSON}/export", headers=_auth(caller, *roles)))


@contextmanager
def seeded_world(make_settings):
    """The person's world in all four services (an SMTP sink catching the notifications), closed after."""
    with SmtpSink() as smtp:
        world = Seeded(make_settings, smtp.url)
        try:
            world.matching()
            world.sessions()
            world.feedback()
            world.notifications()
            yield world
        finally:
            world.close()


@pytest.fixture
def seeded(make_settings):
    with seeded_world(make_settings) as world:
        yield world


def _text(document) -> str:
    return json.dumps(document, ensure_ascii=False)


def _types(part: dict) -> list[str]:
    return [event["event_type"] for event in part["events"]]


def test_each_service_exports_the_persons_data_and_events_and_nobody_elses_private_words(seeded):
    ids = seeded.ids
    parts = {service: seeded.export(service) for service in SERVICES}
    for service, part in parts.items():
        assert (part["format"], part["service"], part["employee_id"]) == ("mentoring.person-export.v1", service, PERSON)
        leaked = [words for words in MENTOR_WORDS if words in _text(part)]
        assert not leaked, f"{service} exported the mentor's private words: {leaked}"

    matching = parts["matching"]
    assert matching["data"]["participant"]["employee_id"] == PERSON
    [enrolment] = matching["data"]["enrollments"]
    assert enrolment["goals_summary"] == "PERSON GOALS SUMMARY" and enrolment["preferences"]["languages"] == ["en"]
    assert [p["pairing_id"] for p in matching["data"]["pairings"]] == [ids["pairing_id"]]
    enrolled = next(e for e in matching["events"] if e["event_type"] == "ParticipantEnrolled")
    assert enrolled["data"]["employee_id"] == PERSON and enrolled["private"]["goals_summary"] == "PERSON GOALS SUMMARY"
    assert {"PairingProposed", "PairingAccepted", "PairingActivated"} <= set(_types(matching))
    assert all(e["data"].get("employee_id") in (None, PERSON) for e in matching["events"])  # no one else's enrolment

    sessions = parts["sessions"]
    assert len(sessions["data"]["meetings"]) == 2 and sessions["data"]["goals"][0]["goals"][0]["title"] == "Learn Rust"
    private = [e["private"] for e in sessions["events"] if "private" in e]
    assert {"agenda": "PERSON AGENDA"} in private and {"notes": "PERSON NOTE", "notes_by": PERSON} in private
    assert {"MeetingScheduled", "MeetingHeld", "MeetingDisputed", "GoalsRevised"} <= set(_types(sessions))
    availability = sessions["data"]["availability"]
    assert (availability["weekly"], availability["time_zone"]) == (
        [{"day": "tue", "start": "07:15", "end": "09:45"}], PERSON_ZONE)
    [changed] = [e for e in sessions["events"] if e["event_type"] == "AvailabilitySet"]
    assert changed["data"]["employee_id"] == PERSON and changed["private"]["time_zone"] == PERSON_ZONE
    assert MENTOR_ZONE not in _text(sessions)  # the partner's availability is theirs

    feedback = parts["feedback"]["data"]
    [given] = feedback["feedback_given"]
    assert (given["rating"], given["comment"]) == (5, "PERSON PRIVATE COMMENT")
    received = {item["rating"]: item["comment"] for item in feedback["feedback_received"]}
    assert received == {2: None, 4: "MENTOR SHARED COMMENT"}  # the unshared comment stays the mentor's
    assert [(r["review_id"], r["goal_progress"], r["satisfaction"]) for r in feedback["reviews"]
            if r.get("submitted")] == [(ids[f"review|{PERSON}"], 4, 5)]
    assert [(s["survey_id"], s["recommend_score"]) for s in feedback["surveys"]] == [(ids[f"survey|{PERSON}"], 9)]
    assert [k["note"] for k in feedback["kudos_sent"]] == ["PERSON KUDOS NOTE"]
    assert [k["note"] for k in feedback["kudos_received"]] == ["MENTOR KUDOS NOTE"]
    for other in (ids[f"review|{MENTOR}"], ids[f"survey|{MENTOR}"]):
        assert other not in _text(parts["feedback"])  # the mentor's answers are not even named
    answers = [e for e in parts["feedback"]["events"] if e["event_type"] in ("ReviewSubmitted", "SurveyAnswered")]
    assert {e["data"]["respondent"] for e in answers} == {feedback["respondent_pseudonym"]}
    assert sorted(json.dumps(e["private"], sort_keys=True) for e in answers) == [
        '{"goal_progress": 4, "satisfaction": 5}', '{"recommend_score": 9}']
    assert {"FeedbackGiven", "KudosSent", "ReviewRequested", "SurveyRequested"} <= set(_types(parts["feedback"]))

    notifications = parts["notifications"]
    data = notifications["data"]
    assert data["person"]["employee_id"] == PERSON and data["preferences"]["quiet_hours"]["start"] == "22:00"
    assert data["inbox"] and {item["recipient_id"] for item in data["inbox"]} == {PERSON}
    assert data["deliveries"] and {d["recipient_id"] for d in data["deliveries"]} == {PERSON}
    assert notifications["events"] and {e["data"]["recipient_id"] for e in notifications["events"]} == {PERSON}
    for words in PERSON_WORDS:
        assert any(words in _text(part) for part in parts.values()), f"{words!r} missing from the export"


def test_only_the_person_and_admins_get_an_export(seeded):
    for service in SERVICES:
        client = seeded.client(service)
        path = f"/v1/people/{PERSON}/export"
        assert client.get(path).status_code == 401
        for caller, roles in ((STRANGER, ["participant"]), (MENTOR, ["participant"]), ("svc-hris", ["integration"])):
            refused = client.get(path, headers=_auth(caller, *roles))
            assert refused.status_code == 403 and refused.content_type == "application/problem+json"
            assert refused.get_json()["code"] == ("machine_client" if "integration" in roles else "not_the_person")
        by_admin = seeded.export(service, ADMIN, "admin")
        assert by_admin["data"] == seeded.export(service)["data"]


class Served:
    """The four apps on loopback HTTP servers (what the CLI calls)."""

    def __init__(self, apps: dict):
        self.servers = {name: make_server("127.0.0.1", 0, app, threaded=True) for name, app in apps.items()}
        self.threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in self.servers.values()]
        for thread in self.threads:
            thread.start()

    def env(self) -> dict:
        return {f"{name.upper()}_URL": f"http://127.0.0.1:{server.server_port}" for name, server in self.servers.items()}

    def close(self):
        for server in self.servers.values():
            server.shutdown()


def test_the_cli_writes_one_file_with_every_services_part(seeded, tmp_path, monkeypatch, capsys):
    served = Served(seeded.apps)
    try:
        for name, value in served.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("MENTORING_ENV", "development")  # the token is minted for the person
        monkeypatch.delenv("MENTORING_TOKEN", raising=False)
        out = tmp_path / "export.json"
        started = time.perf_counter()
        assert cli.main(["export-person", PERSON, "--out", str(out)]) == 0
        print(f"export-person over HTTP: {time.perf_counter() - started:.2f}s")
        assert f"wrote {out}" in capsys.readouterr().out
        document = json.loads(out.read_text())
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        assert (document["format"], document["employee_id"]) == ("mentoring.person-export-bundle.v1", PERSON)
        assert sorted(document["services"]) == sorted(SERVICES)
        for service, part in document["services"].items():
            assert part["data"] == seeded.export(service)["data"] and part["events"], service
        assert "PERSON PRIVATE COMMENT" in out.read_text() and "MENTOR SECRET COMMENT" not in out.read_text()

        # Someone else's token: every service refuses, and no file is written.
        monkeypatch.setenv("MENTORING_TOKEN", mint_token(os.environ["JWT_SECRET"], STRANGER, ["participant"]))
        refused = tmp_path / "refused.json"
        assert cli.main(["export-person", PERSON, "--out", str(refused)]) == 1
        assert "403" in capsys.readouterr().err and not refused.exists()
        assert [p.name for p in tmp_path.iterdir()] == ["export.json"]  # no temporary file left behind
    finally:
        served.close()
