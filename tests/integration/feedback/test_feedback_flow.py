"""Feedback on real Kafka and MongoDB: from MeetingHeld to FeedbackGiven on the contract topic,
privacy of comments, kudos, insight, and idempotence under redelivery and replay."""
from __future__ import annotations

import csv
import io
import json

import pytest

from shared import topics
from shared.events.catalog import default_registry
from shared.generations import live_database
from shared.projector import rebuild_service
from services.feedback import bootstrap
from services.feedback.adapters.mongo import READ_MODELS
from services.feedback.api import create_app
from tests.helpers import decode, read_topic, wait_until
from tests.integration.feedback.support import (
    RunningWorker, auth, cohort_created, days_later, meeting_held, pairing_activated, pairing_proposed, publish,
)

pytestmark = pytest.mark.integration

ENVELOPE_FIELDS = {"event_id", "event_type", "schema_version", "occurred_at", "producer", "aggregate_type",
                   "aggregate_id", "aggregate_version", "correlation_id", "causation_id", "data"}


def _seed(settings):
    publish(settings, topics.MATCHING, [cohort_created(), pairing_proposed(), pairing_activated()])
    publish(settings, topics.SESSIONS, [meeting_held()])


def _known(worker) -> bool:
    pairing = worker.context.models.pairing("P1")
    return bool(worker.context.models.meeting("MT1")) and pairing is not None and pairing["status"] == "active"


def test_not_a_good_fit_reaches_the_feedback_topic_contract_shaped_and_comments_stay_private(make_settings):
    settings = make_settings("feedback")
    _seed(settings)
    with RunningWorker(settings) as worker:
        wait_until(lambda: _known(worker), message="pairing and meeting projected")
        client = create_app(settings).test_client()
        mentee, mentor = auth(settings, "E1"), auth(settings, "M1")

        first = client.post("/v1/pairings/P1/feedback", headers=mentee, json={
            "rating": 2, "meeting_id": "MT1", "comment": "He kept checking his phone", "good_fit": False})
        assert first.status_code == 201, first.json
        feedback_id = first.json["feedback_id"]
        again = client.post("/v1/pairings/P1/feedback", headers=mentee, json={"rating": 5, "meeting_id": "MT1"})
        assert again.status_code == 409 and again.content_type == "application/problem+json"
        outsider = client.post("/v1/pairings/P1/feedback", headers=auth(settings, "X9"),
                               json={"rating": 5, "meeting_id": "MT1"})
        assert outsider.status_code == 403
        shared = client.post("/v1/pairings/P1/feedback", headers=mentor, json={
            "rating": 5, "meeting_id": "MT1", "comment": "Sharp questions, keep going", "share_comment": True})
        assert shared.status_code == 201

        records = read_topic(settings, topics.FEEDBACK, expect=2)
        assert len(records) == 2
        assert all(b"checking his phone" not in r.value for r in records)
        events = {decode(r)["data"]["from_id"]: (r, decode(r)) for r in records}
        record, event = events["E1"]
        assert set(event) == ENVELOPE_FIELDS
        assert record.key.decode() == event["aggregate_id"] == feedback_id
        assert event["event_type"] == "FeedbackGiven" and event["producer"] == "feedback"
        assert event["aggregate_type"] == "feedback" and event["aggregate_version"] == 1
        assert event["occurred_at"].endswith("Z")
        assert event["data"] == {"feedback_id": feedback_id, "pairing_id": "P1", "cohort_id": "C1",
                                 "meeting_id": "MT1", "from_id": "E1", "about_id": "M1", "rating": 2,
                                 "good_fit": False, "comment_shared": False, "comment": None}
        default_registry().decode(record.value)  # what matching will decode validates
        assert events["M1"][1]["data"]["comment"] == "Sharp questions, keep going"

        # the subject sees ratings and only shared comments; the author's private words nowhere
        wait_until(lambda: len(client.get("/v1/me/feedback", headers=mentor).json["items"]) == 1,
                   message="feedback projected")
        about_mentor = client.get("/v1/me/feedback", headers=mentor).json
        assert about_mentor["next"] is None
        assert about_mentor["items"][0]["rating"] == 2 and about_mentor["items"][0]["comment"] is None
        assert "phone" not in json.dumps(about_mentor)
        wait_until(lambda: client.get("/v1/me/feedback", headers=mentee).json["items"], message="mentor's feedback")
        about_mentee = client.get("/v1/me/feedback", headers=mentee).json["items"]
        assert [i["comment"] for i in about_mentee] == ["Sharp questions, keep going"]
        assert client.get("/v1/me/feedback/summary", headers=mentor).json["mean_rating"] == 2.0

        admin = auth(settings, "A1", "admin")
        summary = days_later(settings).get("/v1/cohorts/C1/feedback/summary", headers=admin)
        assert summary.status_code == 200
        body = summary.json
        assert body["feedback"]["responses"] == 2 and body["feedback"]["response_rate"] == 1.0
        assert body["feedback"]["mean_rating"] is None and "feedback" in body["withheld"]  # only 2 people
        assert "phone" not in summary.get_data(as_text=True) and "Sharp" not in summary.get_data(as_text=True)
        assert client.get("/v1/cohorts/C1/feedback/summary", headers=mentor).status_code == 403

        export = client.get("/v1/cohorts/C1/feedback/export.csv", headers=admin)
        assert export.status_code == 200 and export.mimetype == "text/csv"
        rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
        assert rows == [{"pairing_id": "P1", "mentor_id": "M1", "mentee_id": "E1", "status": "active",
                         "meetings_held": "1", "last_meeting_at": "2026-01-10T10:00:00.000Z", "ratings": "2"}]
        assert client.get("/v1/cohorts/C1/feedback/export.csv", headers=mentee).status_code == 403


def test_kudos_reach_the_recipient_and_the_note_stays_in_the_service(make_settings):
    settings = make_settings("feedback")
    _seed(settings)
    with RunningWorker(settings) as worker:
        wait_until(lambda: _known(worker), message="pairing projected")
        client = create_app(settings).test_client()
        sent = client.post("/v1/pairings/P1/kudos", headers=auth(settings, "E1"),
                           json={"note": "Thanks for the intro to the platform team"})
        assert sent.status_code == 201
        inbox = client.get("/v1/me/kudos", headers=auth(settings, "M1")).json
        assert [(k["from_id"], k["note"]) for k in inbox["items"]] == [("E1", "Thanks for the intro to the platform team")]
        assert client.get("/v1/me/kudos", headers=auth(settings, "E1")).json["items"] == []
        assert client.post("/v1/pairings/P1/kudos", headers=auth(settings, "X9"), json={"note": "hi"}).status_code == 403
        records = read_topic(settings, topics.FEEDBACK, expect=1)
        event = decode(records[0])
        assert event["event_type"] == "KudosSent" and event["data"]["to_id"] == "M1"
        assert event["data"]["kudos_id"] == sent.json["kudos_id"]
        assert b"platform team" not in records[0].value


def _checkpoint(context, position):
    context.database["projector_checkpoints"].find_one_and_replace(
        {"_id": context.projector.name}, {"next_position": position}, upsert=True)


def test_redelivered_and_replayed_events_change_nothing(make_settings):
    settings = make_settings("feedback")
    proposed, activated, held = pairing_proposed(), pairing_activated(), meeting_held()
    publish(settings, topics.MATCHING, [cohort_created(), proposed, activated, activated, proposed])
    publish(settings, topics.SESSIONS, [held, held])
    with RunningWorker(settings) as worker:
        wait_until(lambda: worker.runner.processed >= 7, message="7 records processed")
        client = create_app(settings).test_client()
        admin = auth(settings, "A1", "admin")
        assert worker.context.models.pairing("P1")["status"] == "active"  # the stale PairingProposed changed nothing
        given = client.post("/v1/pairings/P1/feedback", headers=auth(settings, "E1"), json={"rating": 4, "meeting_id": "MT1"})
        assert given.status_code == 201
        assert days_later(settings).get("/v1/cohorts/C1/feedback/summary",
                                        headers=admin).json["feedback"]["ratings"] == 1
        assert read_topic(settings, topics.FEEDBACK, expect=1)
        # a projector process that crashed before its checkpoint moved applies the commits again
        _checkpoint(worker.context, 1)
        assert bootstrap.build(settings).projector.catch_up() >= 1
        summary = days_later(settings, 2).get("/v1/cohorts/C1/feedback/summary", headers=admin).json
        assert summary["feedback"]["ratings"] == 1 and summary["feedback"]["responses"] == 1
        rows = list(csv.DictReader(io.StringIO(
            client.get("/v1/cohorts/C1/feedback/export.csv", headers=admin).get_data(as_text=True))))
        assert rows[0]["meetings_held"] == "1" and rows[0]["ratings"] == "1"
    # a full rebuild (Kafka-fed views from the topics, own views from the event store, into a new
    # generation) gives the same read models
    before = _views(worker.context)
    report = rebuild_service(worker.context, worker.runner, grace_s=0)
    assert report.generation == 1 and report.kafka_records >= 7 and report.store_events == 1
    assert _views(worker.context) == before
    summary = days_later(settings, 3).get("/v1/cohorts/C1/feedback/summary", headers=admin).json
    assert summary["feedback"]["ratings"] == 1 and summary["feedback"]["held_meetings"] == 1
    assert worker.context.models.pairing("P1")["status"] == "active"


def _views(context):
    live = live_database(context.database, ttl_s=0)
    return {name: sorted(live[name].find({}), key=lambda d: d["_id"]) for name in READ_MODELS}
