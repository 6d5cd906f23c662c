"""On the real servers: an unshared comment and a kudos note are stored with their event, so a crash
between the append and anything after it loses nothing, and the client's retry is answered with
the first result (not refused, not doubled)."""
from __future__ import annotations

import uuid

import pytest

from shared import topics
from shared.events.catalog.feedback import FEEDBACK_GIVEN, KUDOS_SENT
from shared.events.envelope import Envelope
from shared.kafka import make_producer
from shared.relay import EventRelay
from services.feedback import bootstrap
from services.feedback.api import create_app
from services.feedback.application.projections import ProgrammeView
from tests.helpers import apply_consumed, read_topic
from tests.integration.feedback.support import auth, cohort_created, meeting_held, pairing_activated, pairing_proposed

pytestmark = pytest.mark.integration


def test_comment_and_kudos_note_survive_a_crash_and_a_retry_gets_the_first_answer(make_settings):
    settings = make_settings("feedback")
    context = bootstrap.build(settings)
    context.ensure_indexes()
    view = ProgrammeView(context.database)
    for raw in (cohort_created(), pairing_proposed(), pairing_activated(), meeting_held()):
        apply_consumed(view, Envelope.from_dict(raw))

    client = create_app(settings).test_client()  # no worker: the store projector is "down"
    mentee = {**auth(settings, "E1"), "X-Request-ID": str(uuid.uuid4())}
    body = {"rating": 2, "meeting_id": "MT1", "comment": "Too many interruptions"}
    first = client.post("/v1/pairings/P1/feedback", headers=mentee, json=body)
    retry = client.post("/v1/pairings/P1/feedback", headers=mentee, json=body)  # the answer got lost
    assert first.status_code == retry.status_code == 201
    assert first.get_json() == retry.get_json()
    other = client.post("/v1/pairings/P1/feedback", headers=auth(settings, "E1"), json={"rating": 5, "meeting_id": "MT1"})
    assert other.status_code == 409  # a different rating of the same meeting is still refused
    kudos_request = {**auth(settings, "M1"), "X-Request-ID": str(uuid.uuid4())}
    sent = client.post("/v1/pairings/P1/kudos", headers=kudos_request, json={"note": "Brave questions today"})
    resent = client.post("/v1/pairings/P1/kudos", headers=kudos_request, json={"note": "Brave questions today"})
    assert sent.status_code == resent.status_code == 201 and sent.get_json() == resent.get_json()

    commits = list(context.store.read_all())
    assert [e.event_type for c in commits for e in c.events] == [FEEDBACK_GIVEN, KUDOS_SENT]

    # the worker comes back (a new process): its projector finds the words in the commits
    restarted = bootstrap.build(settings)
    restarted.projector.catch_up()
    feedback_id = first.get_json()["feedback_id"]
    assert restarted.models.comment(feedback_id)["comment"] == "Too many interruptions"
    inbox = client.get("/v1/me/kudos", headers=auth(settings, "E1")).get_json()["items"]
    assert [(k["from_id"], k["note"]) for k in inbox] == [("M1", "Brave questions today")]

    relay = EventRelay(settings, context.store, make_producer(settings))
    while relay.publish_pending():
        pass
    records = read_topic(settings, topics.FEEDBACK, expect=2)
    assert all(b"interruptions" not in r.value and b"Brave" not in r.value for r in records)
