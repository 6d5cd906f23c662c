"""Faults, end to end, against a private Kafka and MongoDB-compatible server this module may stop,
start and wipe (scripts/devstack.py with its own ports and state): nothing lost, nothing doubled.

Every worker runs as two replicas, as the prod overlay runs them. The property checked after each
fault: the live state of every projection of the service (Kafka-fed and own-stream, each collection
a projection lists) equals a rebuild from scratch into a new generation (`shared.consistency`: `rebuild_service`, what
`python -m shared.cli rebuild` runs): Kafka from offset 0, the event store from position 1.

- workers SIGKILLed mid-stream and restarted (matching during an HRIS load; sessions and feedback
  during a burst of pairings, meetings and feedback; notifications, which also sends at most one
  duplicate per crash);
- a Kafka restart and a MongoDB restart in the middle of an HTTP flow: the relay catches up (every
  stored event on the topic once, backlog 0) and the consumers and store projectors apply everything;
- every consumed topic replayed from offset 0 into new consumer groups changes no state and sends
  nothing again;
- poison records on every consumed topic are dead-lettered by every group that reads them, and what
  follows them on the same partition is applied;
- two replicas share the partitions; SIGKILL one and the other takes over its partitions, its relay
  lease and its store projector.
"""
from __future__ import annotations

import email
import importlib
import json
import os
import threading
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from email import policy

import pytest
import requests
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from shared import topics
from shared.clock import rfc3339, utcnow
from shared.config import Settings
from shared.consistency import (
    compare_with_rebuild, consumed_topics, consumer_group, end_offsets, lagging, snapshot,
)
from shared.consumer import ConsumerRunner
from shared.eventstore import EventStore
from shared.http.auth import mint_token
from shared.kafka import ensure_topics, connection_options
from shared.lease import holder
from shared.mongo import client_for, database_for
from shared.projector import CHECKPOINTS
from shared.relay import LEASE_NAME, RELAY_STATE, EventRelay
from shared.worker import consumer_for, projector_for
from tests.e2e.processes import (
    ORG_DATA, PrivateStack, free_port, service_env, start_api, start_worker, start_workers,
)
from tests.integration.backbone.test_relay_fencing import assert_topic_equals_store
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

SERVICES = ("matching", "sessions", "feedback", "notifications")


# -- infrastructure -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    private = PrivateStack(tmp_path_factory.mktemp("faultstack"))
    try:
        yield private.up()
    finally:
        private.wipe()


@pytest.fixture
def fault_settings(stack):
    """Settings on the private stack: one database per service, one topic prefix per test."""
    run_id = uuid.uuid4().hex[:8]
    made: list[Settings] = []

    def factory(service: str, **overrides) -> Settings:
        settings = Settings(
            service_name=service, mongo_url=stack.mongo_url, mongo_database=f"f_{run_id}_{service}",
            kafka_bootstrap_servers=stack.kafka, kafka_topic_prefix=f"f{run_id}.",
            jwt_secret=os.environ["JWT_SECRET"], environment="development", relay_poll_interval_s=0.02, relay_gap_timeout_s=1.0,
            relay_lease_ttl_s=3.0,
        )
        settings = replace(settings, **overrides)
        if not made:
            ensure_topics(settings)
        made.append(settings)
        return settings

    yield factory
    for settings in made:
        try:
            client_for(settings.mongo_url).drop_database(settings.database)
        except Exception:  # noqa: BLE001 - cleanup only
            pass


def worker_env(settings, tmp_path, **extra):
    return service_env(settings, tmp_path, RELAY_LEASE_TTL_S="3", RELAY_GAP_TIMEOUT_S="1", **extra)


class SmtpSink:
    """A real SMTP server on loopback that records every message it accepts."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def by_message_id(self) -> dict[str, int]:
        with self.lock:
            counts: dict[str, int] = {}
            for message in self.messages:
                counts[message["Message-ID"]] = counts.get(message["Message-ID"], 0) + 1
            return counts

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


# -- events shaped as the contract says -----------------------------------------------------------

def envelope(event_type, data, *, producer, aggregate_type, aggregate_id, version=1, schema_version=1) -> dict:
    event_id = str(uuid.uuid4())
    return {"event_id": event_id, "event_type": event_type, "schema_version": schema_version,
            "occurred_at": rfc3339(utcnow()), "producer": producer, "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id, "aggregate_version": version, "correlation_id": event_id,
            "causation_id": None, "data": data}


def person(employee_id: str, **data) -> dict:
    payload = {"employee_id": employee_id, "email": f"{employee_id.lower()}@example.com",
               "display_name": f"Person {employee_id}", "timezone": "Europe/London", "languages": ["en"],
               "level": 5, "skills": ["python"]}
    payload.update(data)
    return {"event_id": str(uuid.uuid4()), "event_type": "EmployeeUpserted", "schema_version": 1,
            "occurred_at": rfc3339(utcnow()), "source": "workday", "data": payload}


def cohort_created(cohort_id: str, admin: str) -> dict:
    return envelope("CohortCreated", {
        "cohort_id": cohort_id, "program_id": f"PG-{cohort_id}", "name": "Cohort", "starts_on": "2030-01-01",
        "ends_on": "2030-06-30", "status": "enrolling", "meeting_cadence_days": 14, "answer_deadline_days": 7,
        "rules": {}, "created_by": admin}, producer="matching", aggregate_type="cohort", aggregate_id=cohort_id)


def pairing_proposed(pf: dict) -> dict:
    return envelope("PairingProposed", {**pf, "score": 0.8, "reasons": ["Both work on Python"],
                                        "proposed_by": "algorithm", "matching_run_id": "R1",
                                        "answer_by": rfc3339(utcnow() + timedelta(days=7))},
                    producer="matching", aggregate_type="pairing", aggregate_id=pf["pairing_id"])


def meeting_held(pf: dict, meeting_id: str, version: int = 2) -> dict:
    return envelope("MeetingHeld", {**pf, "meeting_id": meeting_id, "held_at": rfc3339(utcnow()),
                                    "duration_minutes": 45, "attendees": [pf["mentor_id"], pf["mentee_id"]]},
                    producer="sessions", aggregate_type="meeting", aggregate_id=meeting_id, version=version)


def feedback_given(pf: dict, feedback_id: str, meeting_id: str | None = None) -> dict:
    return envelope("FeedbackGiven", {
        "feedback_id": feedback_id, "pairing_id": pf["pairing_id"], "cohort_id": pf["cohort_id"],
        "meeting_id": meeting_id, "from_id": pf["mentee_id"], "about_id": pf["mentor_id"], "rating": 4,
        "good_fit": None, "comment_shared": False, "comment": None},
        producer="feedback", aggregate_type="feedback", aggregate_id=feedback_id)


def world(tag: str, pairings: int) -> tuple[list[dict], dict[str, list[dict]]]:
    """(HRIS records, {topic: records}) of a cohort's life: pairings proposed, accepted, activated
    (every fifth ended), a meeting scheduled and held, goals revised, feedback and kudos given."""
    cohort, admin = f"C-{tag}", f"A-{tag}"
    hris = [person(admin)]
    out: dict[str, list[dict]] = {topics.MATCHING: [cohort_created(cohort, admin)], topics.SESSIONS: [],
                                  topics.FEEDBACK: []}
    for i in range(pairings):
        mentor, mentee = f"M-{tag}-{i}", f"E-{tag}-{i}"
        hris += [person(mentor), person(mentee)]
        pid, mid = f"P-{tag}-{i}", f"MT-{tag}-{i}"
        pf = {"pairing_id": pid, "cohort_id": cohort, "mentor_id": mentor, "mentee_id": mentee}
        pairing = dict(producer="matching", aggregate_type="pairing", aggregate_id=pid)
        out[topics.MATCHING] += [
            pairing_proposed(pf),
            envelope("PairingAccepted", {**pf, "accepted_by": mentor, "role": "mentor"}, version=2, **pairing),
            envelope("PairingAccepted", {**pf, "accepted_by": mentee, "role": "mentee"}, version=3, **pairing),
            envelope("PairingActivated", {**pf, "activated_at": rfc3339(utcnow())}, version=4, **pairing),
        ]
        if i % 5 == 0:
            out[topics.MATCHING].append(
                envelope("PairingEnded", {**pf, "reason": "completed", "ended_by": "system"}, version=5, **pairing))
        out[topics.SESSIONS] += [
            envelope("MeetingScheduled", {**pf, "meeting_id": mid, "organizer_id": mentee,
                                          "starts_at": rfc3339(utcnow() + timedelta(days=3)), "duration_minutes": 45,
                                          "timezone": "Europe/London"},
                     producer="sessions", aggregate_type="meeting", aggregate_id=mid),
            meeting_held(pf, mid),
            envelope("GoalsRevised", {**pf, "revision": 1, "revised_by": mentee,
                                      "goals": [{"goal_id": f"G-{pid}", "title": "Lead a design review",
                                                 "status": "open", "target_date": None, "progress": 10}]},
                     producer="sessions", aggregate_type="pairing-goals", aggregate_id=pid),
        ]
        out[topics.FEEDBACK] += [
            feedback_given(pf, f"F-{tag}-{i}", mid),
            envelope("KudosSent", {"kudos_id": f"K-{tag}-{i}", "pairing_id": pid, "cohort_id": cohort,
                                   "from_id": mentor, "to_id": mentee},
                     producer="feedback", aggregate_type="kudos", aggregate_id=f"K-{tag}-{i}"),
        ]
    return hris, out


def publish(settings, contract_topic: str, records: list, *, producer: KafkaProducer | None = None) -> None:
    """Records (dicts or raw bytes) keyed by aggregate id (HRIS: employee id), acknowledged."""
    own = producer is None
    producer = producer or KafkaProducer(**connection_options(settings), acks="all")
    name = topics.resolve(contract_topic, settings.kafka_topic_prefix)
    futures = []
    for record in records:
        if isinstance(record, tuple):
            key, value = record
        else:
            key = (record.get("aggregate_id") or record["data"]["employee_id"]).encode()
            value = json.dumps(record).encode()
        futures.append(producer.send(name, key=key, value=value))
    producer.flush(timeout=60)
    for future in futures:
        future.get(timeout=60)
    if own:
        producer.close()


def publish_world(settings, records: dict[str, list[dict]]) -> None:
    for contract_topic, batch in records.items():
        publish(settings, contract_topic, batch)


# -- consumers, positions, projections ------------------------------------------------------------

def build_runner(service: str, settings, group_id: str | None = None) -> ConsumerRunner:
    """The service's consumer runner (its worker's projections and policies) under `group_id`."""
    bootstrap = importlib.import_module(f"services.{service}.bootstrap")
    context = bootstrap.build(settings)
    context.ensure_indexes()
    runner = consumer_for(context, group_id=group_id or bootstrap.CONSUMER_GROUP, registry=bootstrap.registry())
    runner.context = context  # type: ignore[attr-defined]  # for what the worker runs beside it
    return runner


def send_due_notifications(runner) -> int:
    """What the notifications worker's sender threads do, run here until nothing is due: the
    consumer only enqueues deliveries."""
    senders = runner.context.senders
    sent = 0
    while True:
        handed = senders.sweep()
        worked = 0
        while (done := senders.work_once(timeout_s=0.2)):
            worked += done
        sent += worked
        if not handed and not worked:
            return sent


def group_of(service: str) -> str:
    return consumer_group(service)


def applied(settings, group: str, contract_topics) -> int:
    """Records the group has applied (sum of its per-partition watermarks) on those topics."""
    names = {topics.resolve(t, settings.kafka_topic_prefix) for t in contract_topics}
    total = 0
    for doc in database_for(settings)["consumer_positions"].find({}):
        _group, topic, _partition = doc["_id"].rsplit("|", 2)
        if _group == group and topic in names:
            total += int(doc["next_offset"])
    return total


def wait_caught_up(settings, group: str, contract_topics, *, timeout_s: float = 90) -> None:
    """Until the group's watermarks reach today's last record on every partition of those topics."""
    ends = end_offsets(settings, contract_topics)

    def behind():
        return lagging(settings, group, ends)

    wait_until(lambda: not behind(), timeout_s=timeout_s, interval_s=0.3,
               message=f"group {group} caught up (behind: {behind()})")


def wait_projected(settings, *, timeout_s: float = 60) -> None:
    """Until the service's own-stream projections have applied every commit of its event store."""
    db = database_for(settings)
    store = EventStore(db)

    def behind():
        last = store.current_position()
        checkpoints = [int(d.get("next_position", 0)) for d in db[CHECKPOINTS].find({})]
        return [] if all(c > last for c in checkpoints) else [last, checkpoints]

    wait_until(lambda: not behind(), timeout_s=timeout_s, interval_s=0.3, message="own-stream projections caught up")


def assert_equal_to_rebuild(service: str, settings) -> dict:
    """The live projections equal a rebuild from scratch (Kafka from offset 0 for Kafka-fed ones,
    the event store for own-stream ones) into a new generation (`shared.consistency`, as
    `python -m shared.cli rebuild` does). Run with the service's workers stopped."""
    check = compare_with_rebuild(service, settings)
    if check.skipped:
        print(f"{service}: not rebuilt (no collections: policies or not opted in): {check.skipped}")
    assert check.equal, "\n".join(check.differences)
    return check.live


def catch_up_own(service: str, settings) -> None:
    """Apply the service's event store to its own-stream projections (a worker's store projector,
    run once in this process)."""
    bootstrap = importlib.import_module(f"services.{service}.bootstrap")
    projector = projector_for(bootstrap.build(settings), registry=bootstrap.registry())
    if projector is not None:
        projector.catch_up()


class Running:
    """A consumer runner on a thread of this process."""

    def __init__(self, runner: ConsumerRunner):
        self.runner = runner
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.runner.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def start(self) -> "Running":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.runner.stop()
        self.thread.join(timeout=30)
        self.runner.producer.close()


def stored_event_ids(settings) -> set[str]:
    return {e.event_id for commit in EventStore(database_for(settings)).read_all() for e in commit.events}


def topic_event_ids(settings, contract_topic: str) -> list[str]:
    """Event ids of every committed record on the topic (aborted relay transactions excluded)."""
    name = topics.resolve(contract_topic, settings.kafka_topic_prefix)
    consumer = KafkaConsumer(**connection_options(settings), group_id=None,
                             enable_auto_commit=False, isolation_level="read_committed")
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
        ends = consumer.end_offsets(partitions)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ids: list[str] = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < ends[tp] for tp in partitions) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=300).values():
                ids += [json.loads(r.value)["event_id"] for r in records]
        return ids
    finally:
        consumer.close()


def relay_backlog(settings) -> int:
    return EventRelay(settings, EventStore(database_for(settings)), producer=None).backlog()


def assert_relay_caught_up(settings, *, timeout_s: float = 60) -> None:
    """Every event stored reaches the service's topic once, and the relay has nothing left to publish."""
    contract_topic = topics.BY_PRODUCER[settings.service_name]
    wait_until(lambda: relay_backlog(settings) == 0, timeout_s=timeout_s, interval_s=0.3, message="relay backlog 0")
    stored = stored_event_ids(settings)
    assert stored, "the flow stored no events"
    published: list[str] = []

    def missing() -> set[str]:
        # A transaction committed just before a broker stop becomes readable (read_committed)
        # only once the restarted coordinator has written its markers: look again for a while.
        published[:] = topic_event_ids(settings, contract_topic)
        return stored - set(published)

    try:
        wait_until(lambda: not missing(), timeout_s=60, interval_s=2, message="every stored event on the topic")
    except AssertionError:
        lost = missing()
        raise AssertionError(f"{len(lost)} of {len(stored)} stored events never reached {contract_topic} "
                             f"(relay cursor {EventRelay(settings, EventStore(database_for(settings))).cursor()}, "
                             f"store at {EventStore(database_for(settings)).current_position()})") from None
    assert len(published) == len(set(published)), "an event was published twice"


# -- SIGKILL a worker mid-stream (two replicas of it, as in production) ---------------------------

def stop_all(processes) -> None:
    for process in processes:
        if process is not None:
            process.stop()


def test_matching_worker_sigkilled_mid_hris_load_ends_equal_to_a_rebuild(fault_settings, tmp_path):
    settings = fault_settings("matching")
    lines = (ORG_DATA / "hris-employees.jsonl").read_text().splitlines()[:2500]
    records = [(json.loads(line)["data"]["employee_id"].encode(), line.encode()) for line in lines]
    # Later records for people already known (slower, one-by-one path): new titles, terminations.
    later = []
    for line in lines[:600]:
        record = json.loads(line)
        record.update(event_id=str(uuid.uuid4()), occurred_at=rfc3339(utcnow()))
        record["data"]["title"] = "Principal " + (record["data"].get("title") or "Engineer")
        later.append(record)
    for line in lines[600:650]:
        employee_id = json.loads(line)["data"]["employee_id"]
        later.append({"event_id": str(uuid.uuid4()), "event_type": "EmployeeTerminated", "schema_version": 1,
                      "occurred_at": rfc3339(utcnow()), "source": "workday",
                      "data": {"employee_id": employee_id, "terminated_on": "2030-01-31"}})
    total = len(records) + len(later)
    env = worker_env(settings, tmp_path, CONSUMER_MAX_POLL_RECORDS="50")
    workers = start_workers("matching", env, tmp_path)
    hris = [topics.HRIS_EMPLOYEES]
    try:
        publish(settings, topics.HRIS_EMPLOYEES, records)
        publish(settings, topics.HRIS_EMPLOYEES, later)
        wait_until(lambda: applied(settings, "matching-worker", hris) >= 500, timeout_s=90,
                   message=f"part of the load applied ({workers[0].log()[-300:]})")
        for worker in workers:  # both replicas at once: nothing survives to finish their batches
            worker.kill()
        killed_at = applied(settings, "matching-worker", hris)
        assert killed_at < total, "the workers were meant to die mid-load"
        workers = start_workers("matching", env, tmp_path)
        wait_caught_up(settings, "matching-worker", hris, timeout_s=180)
    finally:
        stop_all(workers)
    live = assert_equal_to_rebuild("matching", settings)["participants"]
    assert len(live) == 2500
    first = json.loads(lines[0])["data"]["employee_id"]
    assert live[first]["title"].startswith("Principal ") and live[first]["status"] == "active"
    left = json.loads(lines[620])["data"]["employee_id"]
    assert live[left]["status"] == "terminated"


class FeedbackFlow:
    """Over HTTP, each pair's mentor rates the held meeting and thanks the mentee (feedback's own
    streams, so its own-stream views), retrying what is refused until feedback has projected the
    pairing and the meeting or the server is back."""

    def __init__(self, base: str, secret: str, tag: str, pairings: int):
        self.base, self.secret, self.tag = base, secret, tag
        self.todo = [(kind, i) for i in range(pairings) for kind in ("feedback", "kudos")]
        self.done: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _send(self, kind: str, i: int) -> bool:
        mentor = f"M-{self.tag}-{i}"
        headers = {"Authorization": f"Bearer {mint_token(self.secret, mentor, ['participant'])}"}
        body = {"rating": 4, "meeting_id": f"MT-{self.tag}-{i}"} if kind == "feedback" else {"note": "Thank you"}
        response = requests.post(f"{self.base}/v1/pairings/P-{self.tag}-{i}/{kind}", json=body, headers=headers,
                                 timeout=15)
        return response.status_code == 201

    def _run(self):
        while self.todo and not self._stop.is_set():
            item = self.todo.pop(0)
            try:
                sent = self._send(*item)
            except requests.RequestException:
                sent = False
            if sent:
                self.done.append(item)
            else:
                self.todo.append(item)
                self._stop.wait(0.1)

    def start(self) -> "FeedbackFlow":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=30)


def test_sessions_and_feedback_workers_sigkilled_mid_burst_end_equal_to_a_rebuild(fault_settings, tmp_path):
    sessions, feedback = fault_settings("sessions"), fault_settings("feedback")
    settings_of = {"sessions": sessions, "feedback": feedback}
    tag = uuid.uuid4().hex[:6]
    hris, records = world(tag, 120)
    records[topics.FEEDBACK] = []  # feedback's own events come from its API below, through its store
    workers = {name: start_workers(name, worker_env(s, tmp_path), tmp_path) for name, s in settings_of.items()}
    api, base = start_api("feedback", worker_env(feedback, tmp_path), tmp_path)
    publish(sessions, topics.HRIS_EMPLOYEES, hris)

    publisher = threading.Thread(target=lambda: publish_world(sessions, records), daemon=True)
    publisher.start()
    flow = FeedbackFlow(base, feedback.jwt_secret, tag, 120).start()
    try:
        killed_at = {}
        for name, replicas in workers.items():
            consumed, group, settings = consumed_topics(name), group_of(name), settings_of[name]
            wait_until(lambda: applied(settings, group, consumed) >= 150, timeout_s=90,  # noqa: B023 - called here
                       message=f"{name} applied part of the burst ({replicas[0].log()[-300:]})")
            replicas[0].kill()  # one replica dies mid-stream: the other takes over its partitions...
            time.sleep(1)
            replicas[1].kill()  # ...and dies too, mid-takeover
            killed_at[name] = applied(settings, group, consumed)
        publisher.join(timeout=60)
        for name in workers:
            total = sum(end_offsets(settings_of[name], consumed_topics(name)).values())
            assert killed_at[name] < total, f"{name} was meant to die mid-stream ({killed_at[name]}/{total})"
            workers[name] = start_workers(name, worker_env(settings_of[name], tmp_path), tmp_path)
        wait_until(lambda: not flow.todo, timeout_s=120, interval_s=0.5,
                   message=f"every feedback and kudos accepted ({len(flow.todo)} left)")
        flow.stop()
        for name in workers:
            wait_caught_up(settings_of[name], group_of(name), consumed_topics(name), timeout_s=120)
            wait_projected(settings_of[name])
    finally:
        flow.stop()
        stop_all([api, *(p for replicas in workers.values() for p in replicas)])
    live = assert_equal_to_rebuild("sessions", sessions)
    assert len(live["pairings"]) == 120 and sum(p["status"] == "ended" for p in live["pairings"].values()) == 24
    live = assert_equal_to_rebuild("feedback", feedback)
    assert len(flow.done) == 240
    counts = {name: len(docs) for name, docs in live.items()}
    for name in ("fb_pairings", "fb_meetings", "fb_feedback", "fb_kudos"):
        assert counts.get(name) == 120, counts


def test_notifications_worker_sigkilled_mid_burst_sends_at_most_one_duplicate_per_sender_thread(fault_settings, tmp_path):
    pairings = 40
    with SmtpSink() as smtp:
        settings = fault_settings("notifications", smtp_url=smtp.url)
        tag = uuid.uuid4().hex[:6]
        people = [person(f"{r}-{tag}-{i}") for i in range(pairings) for r in ("M", "E")]
        publish(settings, topics.HRIS_EMPLOYEES, people)
        # a claim of the killed worker is taken over once it expires: 10 s here, not a minute
        env = worker_env(settings, tmp_path, SMTP_URL=smtp.url, NOTIFICATIONS_CLAIM_TTL_S="10")
        workers = start_workers("notifications", env, tmp_path)
        try:
            wait_caught_up(settings, "notifications-worker", [topics.HRIS_EMPLOYEES], timeout_s=60)
            proposals = [pairing_proposed({"pairing_id": f"P-{tag}-{i}", "cohort_id": f"C-{tag}",
                                           "mentor_id": f"M-{tag}-{i}", "mentee_id": f"E-{tag}-{i}"})
                         for i in range(pairings)]
            publish(settings, topics.MATCHING, proposals)
            wait_until(lambda: smtp.count() >= 16, timeout_s=60,
                       message=f"some emails sent ({workers[0].log()[-300:]})")
            workers[0].kill()  # one crash: the other replica carries on
            assert smtp.count() < 2 * pairings, "the worker was meant to die mid-burst"
            workers[0] = start_workers("notifications", env, tmp_path, replicas=1)[0]
            wait_until(lambda: len(smtp.by_message_id()) >= 2 * pairings, timeout_s=90, interval_s=0.3,
                       message="every email sent")
            # killed between sending and recording: the email is out but its delivery stays queued until
            # the claim expires and the survivor sends it again (the one duplicate allowed below)
            wait_until(lambda: database_for(settings)["deliveries"].count_documents({"status": {"$ne": "sent"}}) == 0,
                       timeout_s=90, interval_s=0.5, message="every delivery recorded sent")
            wait_caught_up(settings, "notifications-worker", consumed_topics("notifications"), timeout_s=60)
            wait_until(lambda: relay_backlog(settings) == 0, timeout_s=30, message="outcomes relayed")
        finally:
            stop_all(workers)
        counts = smtp.by_message_id()
        db = database_for(settings)
        deliveries = list(db["deliveries"].find({}))
    assert len(counts) == 2 * pairings, "one email per party of each proposal"
    # the crash window (services/notifications/application/delivery.py): each sender thread of the killed
    # worker may have sent up to NOTIFICATIONS_UNMARKED_SENDS emails whose sent marks were not stored yet
    window = settings.notifications_sender_threads * settings.notifications_unmarked_sends
    assert max(counts.values()) <= 2 and sum(n - 1 for n in counts.values()) <= window, (
        f"more duplicates than the crash window allows ({window}): {sorted(counts.values())[-5:]}")
    assert len(deliveries) == 4 * pairings and {d["status"] for d in deliveries} == {"sent"}
    assert sum(d["attempts"] - 1 for d in deliveries) <= window
    assert db["inbox"].count_documents({}) == 2 * pairings
    outcomes = [e for c in EventStore(db).read_all() for e in c.events if e.event_type == "NotificationSent"]
    assert len(outcomes) == 4 * pairings == len({e.data["notification_id"] for e in outcomes})
    assert sorted(topic_event_ids(settings, topics.NOTIFICATIONS)) == sorted(e.event_id for e in outcomes)
    assert_equal_to_rebuild("notifications", settings)


# -- restart a server during an HTTP flow -----------------------------------------------------------

class CohortFlow:
    """Creates programmes and cohorts over HTTP until stopped, tolerating failed requests."""

    def __init__(self, base: str, secret: str):
        self.base = base
        self.headers = {"Authorization": f"Bearer {mint_token(secret, 'A000001', ['admin'])}"}
        self.cohorts: list[str] = []
        self.failures = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                response = requests.post(f"{self.base}/v1/programs", json={"name": "Programme"},
                                          headers=self.headers, timeout=15)
                if response.status_code != 201:
                    raise RuntimeError(response.status_code)
                program = response.json()["program_id"]
                response = requests.post(f"{self.base}/v1/programs/{program}/cohorts", headers=self.headers,
                                         json={"name": "Cohort", "starts_on": "2030-01-01", "ends_on": "2030-06-30"},
                                         timeout=15)
                if response.status_code != 201:
                    raise RuntimeError(response.status_code)
                self.cohorts.append(response.json()["cohort_id"])
            except Exception:  # noqa: BLE001 - the server may be down: count it and carry on
                self.failures += 1
                self._stop.wait(0.2)
            self._stop.wait(0.05)

    def count(self) -> int:
        return len(self.cohorts)

    def start(self) -> "CohortFlow":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=30)


@pytest.mark.parametrize("server", ["kafka", "mongo"])
def test_a_server_restart_during_a_flow_loses_nothing(server, stack, fault_settings, tmp_path):
    matching, sessions = fault_settings("matching"), fault_settings("sessions")
    tag = uuid.uuid4().hex[:6]
    before = [person(f"B-{tag}-{i}") for i in range(40)]
    after = [person(f"L-{tag}-{i}") for i in range(40)]
    publish(matching, topics.HRIS_EMPLOYEES, before)
    api, base = start_api("matching", worker_env(matching, tmp_path), tmp_path)
    workers = (start_workers("matching", worker_env(matching, tmp_path), tmp_path)
               + start_workers("sessions", worker_env(sessions, tmp_path), tmp_path))
    flow = CohortFlow(base, matching.jwt_secret).start()
    try:
        try:
            wait_until(lambda: flow.count() >= 5, timeout_s=60, message="cohorts created before the fault")
            wait_until(lambda: database_for(sessions)["cohorts"].count_documents({}) >= 3, timeout_s=60,
                       message=f"the pipeline flowing before the fault ({workers[2].log()[-300:]})")
            during = flow.count()
            if server == "kafka":
                stack.stop_kafka()
                time.sleep(3)
                assert flow.count() > during, "commands are accepted while Kafka is down"
                stack.start_kafka()
            else:
                stack.stop_mongo()
                time.sleep(3)
                stack.start_mongo()
            resumed = flow.count()
            wait_until(lambda: flow.count() >= resumed + 5, timeout_s=60, message="cohorts created after the restart")
            publish(matching, topics.HRIS_EMPLOYEES, after)
        finally:
            flow.stop()
        assert_relay_caught_up(matching, timeout_s=90)
        wait_caught_up(matching, "matching-worker", consumed_topics("matching"), timeout_s=90)
        wait_projected(matching)
        wait_caught_up(sessions, "sessions-worker", consumed_topics("sessions"), timeout_s=90)
        wait_projected(sessions)
    finally:
        stop_all([*workers, api])
    stored_cohorts = {e.data["cohort_id"] for c in EventStore(database_for(matching)).read_all()
                      for e in c.events if e.event_type == "CohortCreated"}
    assert set(flow.cohorts) <= stored_cohorts, "a cohort answered 201 was not stored"
    # the relay across the restart: per key, the topic holds exactly the store's versions, once, in order
    assert_topic_equals_store(matching, EventStore(database_for(matching)))
    projected = {d["_id"] for d in database_for(sessions)["cohorts"].find({})}
    assert projected == stored_cohorts, f"sessions misses {len(stored_cohorts - projected)} cohorts"
    everyone = {r["data"]["employee_id"] for r in before + after}
    for settings in (matching, sessions):
        assert {d["_id"] for d in database_for(settings)["participants"].find({})} == everyone
    assert_equal_to_rebuild("matching", matching)
    assert_equal_to_rebuild("sessions", sessions)


# -- replay from offset 0 into new groups ---------------------------------------------------------

def test_replaying_every_topic_into_new_groups_changes_nothing_and_sends_nothing(fault_settings):
    with SmtpSink() as smtp:
        settings = {s: fault_settings(s, smtp_url=smtp.url if s == "notifications" else None) for s in SERVICES}
        hris, records = world(uuid.uuid4().hex[:6], 15)
        publish(settings["matching"], topics.HRIS_EMPLOYEES, hris)
        running = [Running(build_runner(s, settings[s])).start() for s in SERVICES]
        try:
            wait_caught_up(settings["notifications"], "notifications-worker", [topics.HRIS_EMPLOYEES])
            publish_world(settings["matching"], records)
            for service in SERVICES:
                wait_caught_up(settings[service], group_of(service), consumed_topics(service))
        finally:
            for r in running:
                r.stop()
        assert all(r.error is None for r in running), [r.error for r in running]
        send_due_notifications(running[SERVICES.index("notifications")].runner)
        for service in SERVICES:
            catch_up_own(service, settings[service])
        notifications_db = database_for(settings["notifications"])
        before = {s: snapshot(settings[s], s) for s in SERVICES}
        sent_before = smtp.by_message_id()
        deliveries_before = {d["_id"]: d for d in notifications_db["deliveries"].find({})}
        inbox_before = {d["_id"]: d for d in notifications_db["inbox"].find({})}
        position_before = EventStore(notifications_db).current_position()
        assert len(before["feedback"]["fb_pairings"]) == 15 and len(sent_before) > 0

        replay_groups = {s: f"replay-{uuid.uuid4().hex[:6]}" for s in SERVICES}
        running = [Running(build_runner(s, settings[s], replay_groups[s])).start() for s in SERVICES]
        try:
            for service in SERVICES:
                wait_caught_up(settings[service], replay_groups[service], consumed_topics(service))
        finally:
            for r in running:
                r.stop()
        assert all(r.error is None for r in running), [r.error for r in running]
        send_due_notifications(running[SERVICES.index("notifications")].runner)
        for service in SERVICES:
            catch_up_own(service, settings[service])
        replayed = sum(applied(settings[s], replay_groups[s], consumed_topics(s)) for s in SERVICES)
        assert replayed >= sum(len(v) for v in records.values()), "the new groups read every topic from 0"
        for service in SERVICES:
            assert snapshot(settings[service], service) == before[service], f"replay changed {service}'s state"
        assert smtp.by_message_id() == sent_before, "a replay sent email again"
        assert {d["_id"]: d for d in notifications_db["deliveries"].find({})} == deliveries_before
        assert {d["_id"]: d for d in notifications_db["inbox"].find({})} == inbox_before
        assert EventStore(notifications_db).current_position() == position_before
    for service in SERVICES:
        assert_equal_to_rebuild(service, settings[service])


# -- poison records ---------------------------------------------------------------------------------

def poison(contract_topic: str, key: bytes) -> list[tuple[bytes, bytes]]:
    """Four kinds: not JSON, not an envelope, an impossible schema version (0), data failing its schema.

    (A version from the future is not poison: the consumer pauses the partition until a deploy
    that knows it, so it cannot stand in front of records this test expects applied.)"""
    pf = {"pairing_id": "P-poison", "cohort_id": "C-poison", "mentor_id": "M-poison", "mentee_id": "E-poison"}
    if contract_topic == topics.HRIS_EMPLOYEES:
        future, bad = person("X-poison"), person("X-poison", level="high")
    elif contract_topic == topics.MATCHING:
        future, bad = pairing_proposed(pf), pairing_proposed(pf)
        bad["data"]["score"] = 7
    elif contract_topic == topics.SESSIONS:
        future, bad = meeting_held(pf, "MT-poison"), meeting_held(pf, "MT-poison")
        bad["data"]["duration_minutes"] = "long"
    else:
        future, bad = feedback_given(pf, "F-poison"), feedback_given(pf, "F-poison")
        bad["data"]["rating"] = 9
    future["schema_version"] = 0
    return [(key, b"{not json"), (key, json.dumps({"hello": "world"}).encode()),
            (key, json.dumps(future).encode()), (key, json.dumps(bad).encode())]


def _poison_type(contract_topic: str) -> str:
    """The event type of the topic's poison records that have one (the bad version, the bad data)."""
    return json.loads(poison(contract_topic, b"k")[3][1])["event_type"]


def test_poison_records_on_every_consumed_topic_are_dead_lettered_and_what_follows_is_applied(fault_settings):
    settings = {s: fault_settings(s) for s in SERVICES}
    any_settings = settings["matching"]
    tag = uuid.uuid4().hex[:6]
    pf = {"pairing_id": f"P-{tag}", "cohort_id": f"C-{tag}", "mentor_id": f"M-{tag}", "mentee_id": f"E-{tag}"}
    # Behind the poison, on the same partition (same key): the records that must still be applied.
    follow = {
        topics.HRIS_EMPLOYEES: person(pf["mentee_id"]),
        topics.MATCHING: pairing_proposed(pf),
        topics.SESSIONS: meeting_held(pf, f"MT-{tag}", version=1),
        topics.FEEDBACK: feedback_given(pf, f"F-{tag}"),
    }
    readers = {t: [s for s in SERVICES if t in consumed_topics(s)] for t in follow}
    assert all(readers.values())
    for contract_topic, record in follow.items():
        key = (record.get("aggregate_id") or record["data"]["employee_id"]).encode()
        publish(any_settings, contract_topic, [person(f"V-{tag}")] if contract_topic == topics.HRIS_EMPLOYEES else [])
        publish(any_settings, contract_topic, poison(contract_topic, key) + [record])
    runners = {s: build_runner(s, settings[s]) for s in SERVICES}
    # A consumer dead-letters every record it cannot read (not JSON, no type) and, of the types it
    # handles, a bad or unknown version; a type it does not handle it reads past undecoded.
    expected = {(contract_topic, group_of(s)): 2 + 2 * runners[s].handles(contract_topic, _poison_type(contract_topic))
                for contract_topic, groups in readers.items() for s in groups}
    running = [Running(runners[s]).start() for s in SERVICES]
    try:
        for service in SERVICES:
            wait_caught_up(settings[service], group_of(service), consumed_topics(service), timeout_s=60)
        assert all(r.thread.is_alive() for r in running), "a poison record stopped a consumer"
    finally:
        for r in running:
            r.stop()
    for contract_topic, groups in readers.items():
        wanted = sum(expected[(contract_topic, group_of(s))] for s in groups)
        dead = read_all_records(any_settings, topics.dlq(contract_topic), expect=wanted)
        assert len(dead) == wanted, f"{contract_topic}.dlq: {len(dead)} records"
        by_group: dict[str, int] = {}
        for record in dead:
            headers = {k: v.decode() for k, v in record.headers}
            assert headers["dlq.original.topic"] == topics.resolve(contract_topic, any_settings.kafka_topic_prefix)
            assert headers["dlq.error.reason"] and headers["dlq.original.offset"]
            by_group[headers["dlq.consumer.group"]] = by_group.get(headers["dlq.consumer.group"], 0) + 1
        assert by_group == {group_of(s): expected[(contract_topic, group_of(s))] for s in groups}
    db = {s: database_for(settings[s]) for s in SERVICES}
    for service in ("matching", "sessions"):
        assert db[service]["participants"].find_one({"_id": pf["mentee_id"]}) is not None
    assert db["notifications"]["people"].find_one({"_id": pf["mentee_id"]}) is not None
    assert db["sessions"]["pairings"].find_one({"_id": pf["pairing_id"]})["status"] == "proposed"
    assert db["feedback"]["fb_pairings"].find_one({"_id": pf["pairing_id"]}) is not None
    assert db["notifications"]["pairings"].find_one({"_id": pf["pairing_id"]}) is not None
    assert db["feedback"]["fb_meetings"].find_one({"_id": f"MT-{tag}"}) is not None
    assert db["notifications"]["meetings"].find_one({"_id": f"MT-{tag}"}) is not None
    # FeedbackGiven behind the poison on the feedback topic: its readers (matching, notifications)
    # keep no document of a plain rating; their watermarks passed it (wait_caught_up above).


def read_all_records(settings, contract_topic: str, *, expect: int, timeout_s: float = 30) -> list:
    name = topics.resolve(contract_topic, settings.kafka_topic_prefix)
    consumer = KafkaConsumer(**connection_options(settings), group_id=None,
                             enable_auto_commit=False)
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(records) < expect:
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
        return records
    finally:
        consumer.close()


# -- two replicas ----------------------------------------------------------------------------------

def group_members(settings, group: str) -> int:
    """Members of the group that hold at least one partition."""
    admin = KafkaAdminClient(**connection_options(settings))
    try:
        topic = topics.resolve(topics.HRIS_EMPLOYEES, settings.kafka_topic_prefix)
        best = 0
        # The Kafka group id may carry the test's topic prefix (isolating tests on one broker).
        for name in (f"{settings.kafka_topic_prefix}{group}", group):
            try:
                described = admin.describe_groups([name])[name]
            except KafkaError:  # no coordinator yet (a fresh broker creates __consumer_offsets lazily)
                return -1
            best = max(best, sum(1 for member in described.get("members") or []
                                 if topic in str(member.get("member_assignment"))))
        return best
    finally:
        admin.close()


def test_two_replicas_share_the_partitions_and_one_takes_over_when_the_other_is_killed(fault_settings, tmp_path):
    settings = fault_settings("matching")
    env = worker_env(settings, tmp_path)
    db = database_for(settings)
    tag = uuid.uuid4().hex[:6]
    api, base = start_api("matching", env, tmp_path)
    flow = CohortFlow(base, settings.jwt_secret)
    first, = start_workers("matching", env, tmp_path, replicas=1)
    second = None
    try:
        # The first replica takes the relay lease before the second exists: killing it moves the lease
        # (and the store projector's).
        wait_until(lambda: holder(db[RELAY_STATE], LEASE_NAME) is not None, timeout_s=60,
                   message=f"the first replica's relay holds the lease ({first.log()[-300:]})")
        relay_epoch = holder(db[RELAY_STATE], LEASE_NAME)["epoch"]
        second = start_worker("matching", env, tmp_path, replica=1)
        wait_until(lambda: group_members(settings, "matching-worker") == 2, timeout_s=60,
                   message="both replicas hold partitions")
        flow.start()
        publish(settings, topics.HRIS_EMPLOYEES, [person(f"R1-{tag}-{i}") for i in range(1500)])
        wait_until(lambda: flow.count() >= 3, timeout_s=30, message="cohorts created")
        first.kill()
        publish(settings, topics.HRIS_EMPLOYEES, [person(f"R2-{tag}-{i}") for i in range(1500)])
        created = flow.count()
        wait_until(lambda: flow.count() >= created + 3, timeout_s=30, message="cohorts created after the kill")
        flow.stop()
        wait_until(lambda: group_members(settings, "matching-worker") == 1, timeout_s=60,
                   message="the survivor alone in the group")
        wait_caught_up(settings, "matching-worker", consumed_topics("matching"), timeout_s=120)
        assert_relay_caught_up(settings, timeout_s=60)
        assert holder(db[RELAY_STATE], LEASE_NAME)["epoch"] > relay_epoch, "the survivor took the relay lease"
        wait_projected(settings)
    finally:
        flow.stop()
        stop_all([first, second, api])
    assert db["participants"].count_documents({}) == 3000
    live = assert_equal_to_rebuild("matching", settings)
    assert set(flow.cohorts) <= set(live["cohorts"]), "a cohort answered 201 is missing from the view"
