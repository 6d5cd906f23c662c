"""Matching on real Kafka: proposals on mentoring.matching.v1, reactions to HRIS and feedback events."""
from __future__ import annotations

import json
import threading
import uuid

import pytest
from kafka import KafkaProducer

from shared import topics
from shared.kafka import make_producer
from shared.relay import EventRelay
from services.matching.worker import build_consumer
from tests.helpers import decode, read_topic, wait_until
from tests.integration.matching.conftest import ADMIN_H, token

pytestmark = pytest.mark.integration


def _publish(settings, contract_topic: str, records: list[dict]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","))
    topic = topics.resolve(contract_topic, settings.kafka_topic_prefix)
    for record in records:
        producer.send(topic, key=(record.get("aggregate_id") or record["data"]["employee_id"]).encode(),
                      value=json.dumps(record).encode())
    producer.flush()
    producer.close()


class Running:
    """The worker's relay and consumer runner in threads, stopped at the end."""

    def __init__(self, harness):
        settings = harness.settings
        self.producer = make_producer(settings)
        self.relay = EventRelay(settings, harness.context.store, self.producer)
        self.runner = build_consumer(settings, self.producer, context=harness.context)
        self.threads = [threading.Thread(target=self.relay.run, daemon=True),
                        threading.Thread(target=self.runner.run, daemon=True)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.relay.stop()
        self.runner.stop()
        for thread in self.threads:
            thread.join(timeout=30)


def test_a_run_puts_contract_shaped_pairing_proposed_events_on_the_topic(harness):
    cohort_id = harness.populated_cohort()
    run = harness.run(cohort_id).json
    with Running(harness):
        # programme, cohort, 2 status changes, 5 enrolments, the run, 3 proposals
        records = read_topic(harness.settings, topics.MATCHING, expect=1 + 1 + 2 + 5 + 1 + 3)
    events = [decode(r) for r in records]
    proposed = [e for e in events if e["event_type"] == "PairingProposed"]
    assert len(proposed) == 3
    for record, event in ((r, decode(r)) for r in records if decode(r)["event_type"] == "PairingProposed"):
        assert record.key.decode() == event["aggregate_id"] == event["data"]["pairing_id"]
        assert event["producer"] == "matching" and event["aggregate_type"] == "pairing"
        assert event["aggregate_version"] == 1 and event["schema_version"] == 1
        uuid.UUID(event["event_id"])
        assert event["occurred_at"].endswith("Z") and event["correlation_id"]
        data = event["data"]
        assert data["cohort_id"] == cohort_id and data["proposed_by"] == "algorithm"
        assert data["matching_run_id"] == run["run_id"]
        assert 0 <= data["score"] <= 1 and data["reasons"] and all(isinstance(r, str) for r in data["reasons"])
        assert data["answer_by"] == "2026-03-09T09:00:00.000Z"
        assert {"mentor_id", "mentee_id"} <= set(data)
    completed = [e for e in events if e["event_type"] == "MatchingRunCompleted"]
    assert len(completed) == 1
    assert completed[0]["data"]["matched"] == 3
    assert sorted(completed[0]["data"]["pairing_ids"]) == sorted(e["data"]["pairing_id"] for e in proposed)


def _terminated(employee_id: str) -> dict:
    return {"event_id": str(uuid.uuid4()), "event_type": "EmployeeTerminated", "schema_version": 1,
            "occurred_at": "2026-03-03T00:00:00Z", "source": "workday",
            "data": {"employee_id": employee_id, "terminated_on": "2026-03-03"}}


def test_a_terminated_employee_is_withdrawn_and_their_pairings_end(harness):
    cohort_id = harness.populated_cohort()
    harness.run(cohort_id)
    m001 = [p for p in harness.pairings(cohort_id)["items"] if p["mentor_id"] == "M001"]
    assert len(m001) == 2
    termination = _terminated("M001")
    with Running(harness) as running:
        _publish(harness.settings, topics.HRIS_EMPLOYEES, [termination, termination])  # redelivered
        wait_until(lambda: running.runner.processed >= 2, message="terminations processed")
    items = {p["pairing_id"]: p for p in harness.pairings(cohort_id)["items"]}
    for pairing in m001:
        assert items[pairing["pairing_id"]]["status"] == "ended"
        assert items[pairing["pairing_id"]]["end_reason"] == "participant_left"
        events = harness.context.store.load(pairing["pairing_id"]).events
        assert [e.event_type for e in events] == ["PairingProposed", "PairingEnded"]  # once, despite redelivery
        assert events[-1].data["ended_by"] == "system"
    others = [p for p in items.values() if p["mentor_id"] != "M001"]
    assert others and all(p["status"] == "proposed" for p in others)
    stats = harness.client.get(f"/v1/cohorts/{cohort_id}/stats", headers=ADMIN_H).json
    assert stats["enrolled"] == 4 and stats["unmatched"] == 2
    cohort_events = harness.context.store.load(cohort_id).events
    withdrawals = [e for e in cohort_events if e.event_type == "EnrollmentWithdrawn"]
    assert [(e.data["employee_id"], e.data["reason"]) for e in withdrawals] == [("M001", "participant_left")]
    # the next run no longer offers M001
    rerun = harness.run(cohort_id).json
    assert all(p["mentor_id"] != "M001" for p in rerun["proposals"])


def test_feedback_not_a_fit_ends_the_pairing_and_the_mentee_is_matched_again(harness):
    cohort_id = harness.populated_cohort()
    harness.run(cohort_id)
    pairing = next(p for p in harness.pairings(cohort_id)["items"] if p["mentee_id"] == "E002")
    pid = pairing["pairing_id"]
    for subject in ("E002", pairing["mentor_id"]):
        assert harness.client.post(f"/v1/pairings/{pid}/accept", json={}, headers=token(subject)).status_code == 200

    def feedback(good_fit):
        return {"event_id": str(uuid.uuid4()), "event_type": "FeedbackGiven", "schema_version": 1,
                "occurred_at": "2026-03-20T10:00:00.000Z", "producer": "feedback", "aggregate_type": "feedback",
                "aggregate_id": f"fb-{uuid.uuid4().hex}", "aggregate_version": 1, "correlation_id": "req-fb",
                "causation_id": None,
                "data": {"feedback_id": str(uuid.uuid4()), "pairing_id": pid, "cohort_id": cohort_id,
                         "meeting_id": None, "from_id": "E002", "about_id": pairing["mentor_id"], "rating": 2,
                         "good_fit": good_fit, "comment_shared": False, "comment": None}}

    with Running(harness) as running:
        _publish(harness.settings, topics.FEEDBACK, [feedback(True), feedback(None)])
        wait_until(lambda: running.runner.processed >= 2, message="good feedback processed")
        assert harness.context.service.pairings.get(pid)["status"] == "active"
        _publish(harness.settings, topics.FEEDBACK, [feedback(False)])
        wait_until(lambda: harness.context.service.pairings.get(pid)["status"] == "ended", message="pairing ended")
    doc = harness.context.service.pairings.get(pid)
    assert doc["end_reason"] == "not_a_fit"
    ended = harness.context.store.load(pid).events[-1]
    assert ended.data["ended_by"] == "E002"
    stats = harness.client.get(f"/v1/cohorts/{cohort_id}/stats", headers=ADMIN_H).json
    assert stats["unmatched"] == 1
    rerun = harness.run(cohort_id).json
    considered = [p["mentee_id"] for p in rerun["proposals"]] + [u["mentee_id"] for u in rerun["unmatched"]]
    assert considered == ["E002"]  # the mentee is a candidate of the next run again
    assert (pairing["mentor_id"], "E002") not in {(p["mentor_id"], p["mentee_id"]) for p in rerun["proposals"]}


def test_read_model_snapshots_are_idempotent(harness):
    pairings = harness.context.service.pairings
    pairings.put({"_id": "par-x", "status": "active", "version": 3})
    assert pairings.put({"_id": "par-x", "status": "proposed", "version": 2}) is False
    assert pairings.put({"_id": "par-x", "status": "active", "version": 3}) is False
    assert pairings.get("par-x")["status"] == "active"
    assert pairings.put({"_id": "par-x", "status": "ended", "version": 4}) is True
    assert pairings.get("par-x")["status"] == "ended"
