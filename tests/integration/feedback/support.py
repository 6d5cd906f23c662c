"""Helpers for the feedback service's integration tests: contract-shaped events of other
producers, a running consumer and relay, and tokens."""
from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta, timezone

from kafka import KafkaProducer

from shared import topics
from shared.clock import ManualClock
from shared.http.auth import mint_token
from shared.kafka import make_producer, connection_options
from shared.relay import EventRelay
from services.feedback import bootstrap
from services.feedback.worker import build_consumer


def envelope(event_type: str, aggregate_type: str, aggregate_id: str, version: int, data: dict, *,
             producer: str, occurred_at: str = "2026-01-01T09:00:00.000Z", event_id: str | None = None) -> dict:
    return {"event_id": event_id or str(uuid.uuid4()), "event_type": event_type, "schema_version": 1,
            "occurred_at": occurred_at, "producer": producer, "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id, "aggregate_version": version, "correlation_id": str(uuid.uuid4()),
            "causation_id": None, "data": data}


def publish(settings, contract_topic: str, envelopes: list) -> None:
    producer = KafkaProducer(**connection_options(settings))
    name = topics.resolve(contract_topic, settings.kafka_topic_prefix)
    for env in envelopes:
        value = env if isinstance(env, bytes) else json.dumps(env).encode()
        key = None if isinstance(env, bytes) else env["aggregate_id"].encode()
        producer.send(name, key=key, value=value)
    producer.flush()
    producer.close()


def cohort_created(cohort_id="C1", *, ends_on="2026-12-31", rules=None) -> dict:
    return envelope("CohortCreated", "cohort", cohort_id, 1, {
        "cohort_id": cohort_id, "program_id": "PR1", "name": "Spring", "starts_on": "2026-01-01", "ends_on": ends_on,
        "status": "active", "meeting_cadence_days": 14, "answer_deadline_days": 7, "rules": rules or {},
        "created_by": "A1"}, producer="matching")


def cohort_closed(cohort_id="C1", version=2) -> dict:
    return envelope("CohortStatusChanged", "cohort", cohort_id, version, {
        "cohort_id": cohort_id, "program_id": "PR1", "status": "closed", "previous_status": "active",
        "changed_by": "A1"}, producer="matching", occurred_at="2026-12-31T18:00:00.000Z")


def _pairing_fields(pairing_id, cohort_id, mentor_id, mentee_id) -> dict:
    return {"pairing_id": pairing_id, "cohort_id": cohort_id, "mentor_id": mentor_id, "mentee_id": mentee_id,
            "score": 0.8, "reasons": ["shared topic: python"], "proposed_by": "algorithm", "matching_run_id": "R1"}


def pairing_proposed(pairing_id="P1", cohort_id="C1", mentor_id="M1", mentee_id="E1") -> dict:
    return envelope("PairingProposed", "pairing", pairing_id, 1, {
        **_pairing_fields(pairing_id, cohort_id, mentor_id, mentee_id), "answer_by": "2026-01-08T09:00:00.000Z"},
        producer="matching")


def pairing_activated(pairing_id="P1", cohort_id="C1", mentor_id="M1", mentee_id="E1", *,
                      activated_at="2026-01-01T09:00:00.000Z") -> dict:
    return envelope("PairingActivated", "pairing", pairing_id, 2, {
        **_pairing_fields(pairing_id, cohort_id, mentor_id, mentee_id), "activated_at": activated_at},
        producer="matching", occurred_at=activated_at)


def meeting_held(meeting_id="MT1", pairing_id="P1", cohort_id="C1", mentor_id="M1", mentee_id="E1", *,
                 held_at="2026-01-10T10:00:00.000Z") -> dict:
    return envelope("MeetingHeld", "meeting", meeting_id, 2, {
        "meeting_id": meeting_id, "pairing_id": pairing_id, "cohort_id": cohort_id, "held_at": held_at,
        "duration_minutes": 45, "attendees": [mentor_id, mentee_id], "mentor_id": mentor_id, "mentee_id": mentee_id},
        producer="sessions", occurred_at=held_at)


def days_later(settings, days: int = 1):
    """A client of an API whose clock is `days` ahead of now: the cohort summary published then
    includes what was answered today (summaries are daily snapshots taken as the day begins)."""
    from services.feedback.api import create_app

    return create_app(settings, ManualClock(datetime.now(timezone.utc) + timedelta(days=days))).test_client()


def auth(settings, subject: str, *roles: str) -> dict:
    return {"Authorization": "Bearer " + mint_token(settings.jwt_secret, subject, list(roles or ["participant"]))}


class RunningWorker:
    """The feedback worker's consumer, store projector and relay on threads (the periodic jobs are
    called directly)."""

    def __init__(self, settings, clock=None):
        self.context = bootstrap.build(settings, clock=clock)
        self.context.ensure_indexes()
        self.producer = make_producer(settings)
        self.runner = build_consumer(settings, self.producer, context=self.context)
        self.relay = EventRelay(settings, self.context.store, self.producer)
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self.runner.run, daemon=True),
                        threading.Thread(target=lambda: self.context.projector.run(self._stop), daemon=True),
                        threading.Thread(target=lambda: self.relay.run(self._stop), daemon=True)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.runner.stop()
        self._stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.producer.close()
