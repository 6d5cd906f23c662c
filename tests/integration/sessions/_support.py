"""Feeding matching and HRIS events into the sessions service over the real Kafka."""
from __future__ import annotations

import json
import threading
import uuid

from shared import topics
from shared.clock import rfc3339, utcnow
from shared.http.auth import mint_token
from shared.kafka import make_producer
from services.sessions import bootstrap
from services.sessions.worker import build_consumer
from tests.helpers import hris_upsert, wait_until


def envelope(event_type, aggregate_type, aggregate_id, version, data, occurred_at=None):
    return {"event_id": str(uuid.uuid4()), "event_type": event_type, "schema_version": 1,
            "occurred_at": occurred_at or rfc3339(utcnow()), "producer": "matching",
            "aggregate_type": aggregate_type, "aggregate_id": aggregate_id, "aggregate_version": version,
            "correlation_id": str(uuid.uuid4()), "causation_id": None, "data": data}


def pairing_data(pairing_id, cohort_id="c1", mentor="mentor-1", mentee="mentee-1", **extra):
    return dict(pairing_id=pairing_id, cohort_id=cohort_id, mentor_id=mentor, mentee_id=mentee, **extra)


def cohort_created(cohort_id="c1", cadence=14):
    return envelope("CohortCreated", "cohort", cohort_id, 1, {
        "cohort_id": cohort_id, "program_id": "prog-1", "name": "Spring", "starts_on": "2025-01-01",
        "ends_on": "2025-12-31", "status": "draft", "meeting_cadence_days": cadence, "answer_deadline_days": 7,
        "rules": {}, "created_by": "admin-1"})


def activated_pairing(pairing_id, cohort_id="c1", mentor="mentor-1", mentee="mentee-1", activated_at=None):
    """PairingProposed v1 and PairingActivated v2 for one pairing."""
    return [
        envelope("PairingProposed", "pairing", pairing_id, 1, pairing_data(
            pairing_id, cohort_id, mentor, mentee, score=0.8, reasons=["shared skills"], proposed_by="algorithm",
            matching_run_id="run-1", answer_by="2030-01-01T00:00:00.000Z")),
        envelope("PairingActivated", "pairing", pairing_id, 2, pairing_data(
            pairing_id, cohort_id, mentor, mentee, activated_at=activated_at or rfc3339(utcnow()))),
    ]


class Feed:
    """A producer writing contract-shaped envelopes to the test's prefixed topics."""

    def __init__(self, settings):
        self.settings = settings
        self.producer = make_producer(settings)

    def send(self, contract_topic, *events):
        topic = topics.resolve(contract_topic, self.settings.kafka_topic_prefix)
        for event in events:
            key = (event.get("aggregate_id") or event["data"]["employee_id"]).encode()
            self.producer.send(topic, key=key, value=json.dumps(event).encode()).get(timeout=30)

    def matching(self, *events):
        self.send(topics.MATCHING, *events)

    def hris(self, employee_id, **data):
        self.send(topics.HRIS_EMPLOYEES, hris_upsert(employee_id, occurred_at=rfc3339(utcnow()), **data))


class RunningConsumer:
    """The worker's consumer group and its store projector (own views and policies) on threads."""

    def __init__(self, settings, context=None):
        self.context = context or bootstrap.build(settings)
        self.runner = build_consumer(settings, make_producer(settings), context=self.context)
        self.projector = self.context.projector
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self.runner.run, daemon=True),
                        threading.Thread(target=lambda: self.projector.run(self._stop), daemon=True)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def stop(self):
        self.runner.stop()
        self._stop.set()
        for thread in self.threads:
            thread.join(timeout=20)

    def __exit__(self, *exc):
        self.stop()


def wait_for_pairing(context, pairing_id, status="active"):
    def ready():
        doc = context.pairings.get_doc(pairing_id)
        return doc is not None and doc["status"] == status
    wait_until(ready, timeout_s=40, message=f"pairing {pairing_id} {status}")


def headers(settings, subject, *roles):
    token = mint_token(settings.jwt_secret, subject, list(roles or ["participant"]))
    return {"Authorization": f"Bearer {token}"}
