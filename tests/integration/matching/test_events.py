"""Matching on real Kafka: proposals on mentoring.matching.v1, reactions to HRIS and feedback events."""
from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from kafka import KafkaProducer

from shared import topics
from shared.kafka import make_producer, connection_options
from shared.relay import EventRelay
from shared.events.catalog import matching as ev
from services.matching.worker import build_consumer
from tests.helpers import decode, hris_upsert, read_topic, wait_until
from tests.integration.matching.conftest import ADMIN_H, token

pytestmark = pytest.mark.integration


def _publish(settings, contract_topic: str, records: list[dict]) -> None:
    producer = KafkaProducer(**connection_options(settings))
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


def test_an_async_run_puts_contract_shaped_pairing_proposed_events_on_the_topic(harness):
    cohort_id = harness.populated_cohort()
    started = harness.start_run(cohort_id)
    assert started.status_code == 202 and started.json["status"] == "running"
    run = harness.poll(started.json["run_id"])
    assert run["status"] == "completed" and run["matched"] == 3
    with Running(harness):
        # programme, cohort, 2 status changes, 5 enrolments; the run: requested, 1 chunk, completed,
        # proposals created; 3 proposals
        records = read_topic(harness.settings, topics.MATCHING, expect=1 + 1 + 2 + 5 + 4 + 3)
    events = [decode(r) for r in records]
    proposed = [e for e in events if e["event_type"] == ev.PAIRING_PROPOSED]
    assert len(proposed) == 3
    for record, event in ((r, decode(r)) for r in records if decode(r)["event_type"] == ev.PAIRING_PROPOSED):
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
    completed = [e for e in events if e["event_type"] == ev.MATCHING_RUN_COMPLETED]
    assert len(completed) == 1 and completed[0]["schema_version"] == 2
    assert completed[0]["data"]["matched"] == 3 and "pairing_ids" not in completed[0]["data"]
    chunks = [e for e in events if e["event_type"] == ev.MATCHING_RUN_RESULT_CHUNK]
    assert sorted(p["pairing_id"] for c in chunks for p in c["data"]["proposals"]) == sorted(
        e["data"]["pairing_id"] for e in proposed)
    enrolled = [e for e in events if e["event_type"] == ev.PARTICIPANT_ENROLLED]
    assert all(e["aggregate_type"] == "enrollment" and e["aggregate_id"] == f"{cohort_id}|{e['data']['employee_id']}"
               for e in enrolled)
    assert all("goals_summary" not in e["data"] and "preferences" not in e["data"] for e in enrolled)


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
        # a busy machine may make the policy wait and retry: wait for the effect itself
        wait_until(lambda: all(harness.context.views.pairings.get(p["pairing_id"])["status"] == "ended"
                               for p in m001), timeout_s=60, message="M001's pairings ended")
    harness.settle()
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
    enrolment_events = harness.context.store.load(f"{cohort_id}|M001").events
    assert [e.event_type for e in enrolment_events] == [ev.PARTICIPANT_ENROLLED, ev.ENROLLMENT_WITHDRAWN]
    assert enrolment_events[-1].data["reason"] == "participant_left"
    # the next run no longer offers M001
    rerun = harness.run(cohort_id)
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
        harness.settle()
        assert harness.context.views.pairings.get(pid)["status"] == "active"
        _publish(harness.settings, topics.FEEDBACK, [feedback(False)])
        wait_until(lambda: harness.context.views.pairings.get(pid)["status"] == "ended", message="pairing ended")
    doc = harness.context.views.pairings.get(pid)
    assert doc["end_reason"] == "not_a_fit"
    ended = harness.context.store.load(pid).events[-1]
    assert ended.data["ended_by"] == "E002"
    stats = harness.client.get(f"/v1/cohorts/{cohort_id}/stats", headers=ADMIN_H).json
    assert stats["unmatched"] == 1
    rerun = harness.run(cohort_id)
    considered = [p["mentee_id"] for p in rerun["proposals"]] + [u["mentee_id"] for u in rerun["unmatched"]]
    assert considered == ["E002"]  # the mentee is a candidate of the next run again
    assert (pairing["mentor_id"], "E002") not in {(p["mentor_id"], p["mentee_id"]) for p in rerun["proposals"]}


def test_a_rehired_persons_new_pairing_survives_the_old_termination_redelivered(harness):
    cohort_id = harness.populated_cohort()
    harness.run(cohort_id)
    old = [p["pairing_id"] for p in harness.pairings(cohort_id)["items"] if p["mentee_id"] == "E002"]
    termination = _terminated("E002")  # occurred 2026-03-03
    rehire = hris_upsert("E002", occurred_at="2026-03-04T00:00:00Z", level=3, department="Engineering",
                         timezone="Europe/London")
    with Running(harness) as running:
        _publish(harness.settings, topics.HRIS_EMPLOYEES, [termination, rehire])
        wait_until(lambda: running.runner.processed >= 2, message="termination and rehire processed")
        wait_until(lambda: all(harness.context.views.pairings.get(pid)["status"] == "ended" for pid in old),
                   timeout_s=60, message="the old pairings ended")
        wait_until(lambda: (harness.context.participants.get("E002") or {}).get("status") == "active",
                   message="the rehire folded in")
        harness.clock.advance(days=3)  # 2026-03-05: after the rehire
        assert harness.enroll(cohort_id, "E002", "mentee").status_code == 201
        assert harness.enroll(cohort_id, "M009", "mentor", capacity=1).status_code == 422  # unknown yet
        harness.hire("M009", level=8)
        assert harness.enroll(cohort_id, "M009", "mentor", capacity=1).status_code == 201
        rerun = harness.run(cohort_id)
        new = [p["pairing_id"] for p in rerun["proposals"] if p["mentee_id"] == "E002"]
        assert len(new) == 1
        processed = running.runner.processed
        _publish(harness.settings, topics.HRIS_EMPLOYEES, [termination, termination])  # redelivered, replayed
        wait_until(lambda: running.runner.processed >= processed + 2, message="old termination processed")
        harness.settle()
    assert harness.context.views.pairings.get(new[0])["status"] == "proposed"
    assert [e.event_type for e in harness.context.store.load(new[0]).events] == [ev.PAIRING_PROPOSED]
    assert harness.context.views.enrollments.get(f"{cohort_id}|E002")["status"] == "active"
    assert harness.client.get("/v1/participants/E002", headers=ADMIN_H).json["status"] == "active"


def test_the_views_rebuilt_from_the_store_equal_the_live_ones(harness):
    from shared.projector import rebuild_service

    cohort_id = harness.populated_cohort()
    harness.run(cohort_id, dry_run=True)
    harness.run(cohort_id)
    pid, declined = harness.pairings(cohort_id)["items"][:2]
    pid = pid["pairing_id"]
    assert harness.client.post(f"/v1/pairings/{pid}/end", json={"reason": "by_admin"},
                               headers=ADMIN_H).status_code == 200
    assert harness.client.post(f"/v1/pairings/{declined['pairing_id']}/decline", json={"reason": "no_time"},
                               headers=token(declined["mentee_id"])).status_code == 200
    withdrawn = harness.client.post(f"/v1/cohorts/{cohort_id}/enrollments/E003/withdraw", headers=ADMIN_H)
    assert withdrawn.status_code == 200
    harness.settle()
    views = harness.context.views

    def snapshot():
        return [sorted(documents.find({}), key=lambda d: d["_id"]) for documents in views.all()]

    live = snapshot()
    # every view has documents (circles: this cohort is one of pairs; tests/integration/matching/test_circles.py)
    assert all(docs for documents, docs in zip(views.all(), live) if documents is not views.circles)
    report = rebuild_service(harness.context, None, grace_s=0)
    assert report.store_events > 0 and "pairings" in report.collections
    from shared.generations import physical
    from services.matching.adapters.mongo import VIEW_COLLECTIONS

    database = harness.context.database
    rebuilt = [sorted(database[physical(name, report.generation)].find({}), key=lambda d: d["_id"])
               for name in VIEW_COLLECTIONS]
    assert report.generation >= 1 and rebuilt == live
    time.sleep(1.2)  # readers follow the live generation within a second
    assert snapshot() == live
    assert harness.client.get(f"/v1/pairings/{pid}", headers=ADMIN_H).json["status"] == "ended"
