"""Issue 15 on the real servers: the worker learns the mentor's manager from `hris.employees.v1`, a
mentee shares a thank-you with them, the manager reads it, and the event on Kafka names the
manager and carries no note."""
from __future__ import annotations

import json

import pytest

from shared import topics
from tests.helpers import decode, hris_upsert, read_topic, wait_until
from tests.integration.feedback.support import (
    RunningWorker, auth, cohort_created, pairing_activated, pairing_proposed, publish,
)

pytestmark = pytest.mark.integration
NOTE = "You showed me how the org really works"


def test_a_mentee_shares_a_thank_you_the_mentors_manager_reads_and_kafka_carries_only_the_manager_id(make_settings):
    settings = make_settings("feedback")
    publish(settings, topics.MATCHING, [cohort_created(), pairing_proposed(), pairing_activated()])
    publish(settings, topics.HRIS_EMPLOYEES, [json.dumps(hris_upsert(
        "M1", occurred_at="2026-01-01T00:00:00Z", display_name="Max Mentor", manager_id="B1")).encode()])
    with RunningWorker(settings) as worker:
        models = worker.context.models
        wait_until(lambda: (models.pairing("P1") or {}).get("status") == "active" and models.manager_of("M1") == "B1",
                   message="pairing and the mentor's HRIS record projected")
        from services.feedback.api import create_app

        client = create_app(settings).test_client()
        refused = client.post("/v1/pairings/P1/kudos", headers=auth(settings, "M1"),
                              json={"note": "thanks", "share_with_manager": True})
        assert refused.status_code == 422 and "share_with_manager" in json.dumps(refused.get_json())
        sent = client.post("/v1/pairings/P1/kudos", headers=auth(settings, "E1"),
                           json={"note": NOTE, "share_with_manager": True})
        assert sent.status_code == 201, sent.get_json()

        [shared] = client.get("/v1/me/kudos/shared", headers=auth(settings, "B1")).get_json()["items"]
        assert (shared["from_id"], shared["to_id"], shared["to_name"], shared["note"]) == ("E1", "M1", "Max Mentor", NOTE)
        assert client.get("/v1/me/kudos/shared", headers=auth(settings, "E1")).get_json()["items"] == []
        assert [k["note"] for k in client.get("/v1/me/kudos", headers=auth(settings, "M1")).get_json()["items"]] == [NOTE]

        [record] = read_topic(settings, topics.FEEDBACK, expect=1)
        event = decode(record)
        assert event["event_type"] == "KudosSent" and event["data"]["shared_with_id"] == "B1"
        assert NOTE.encode() not in record.value
