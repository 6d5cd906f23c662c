"""A consumer runner reads past the event types none of its projections handle without decoding them.

The runner is driven through `run()` over an in-memory consumer (one poll, then stop) and the
unit tests' in-memory database: what it applies, dead-letters, pauses on, and commits.
"""
from __future__ import annotations

import json
import secrets
from types import SimpleNamespace

from kafka import TopicPartition
from marshmallow import Schema, fields

from shared.config import Settings
from shared.consumer import ConsumerRunner, Projection
from shared.events.envelope import new_event
from shared.events.registry import EventRegistry
from tests.unit.sessions.fakedb import FakeDatabase

TOPIC = "sessions.events"
HANDLED, BUSY = "PersonErased", "MeetingScheduled"


class ErasedV1(Schema):
    employee_id = fields.String(required=True)


class BusyV1(Schema):
    meeting_id = fields.String(required=True)


class CountingRegistry(EventRegistry):
    """Counts the data validations (schema loads) it is asked for, by event type."""

    def __init__(self):
        super().__init__()
        self.validated: list[str] = []
        self.register(HANDLED, 1, ErasedV1)
        self.register(BUSY, 1, BusyV1)

    def validate_data(self, event_type, version, data):
        self.validated.append(event_type)
        return super().validate_data(event_type, version, data)


class ErasedView(Projection):
    name = "erased"
    topics = (TOPIC,)

    def __init__(self):
        self.erased: list[str] = []

    def handlers(self):
        return {HANDLED: lambda envelope: self.erased.append(envelope.data["employee_id"])}

    def reset(self):
        self.erased.clear()


class OnePoll:
    """A KafkaConsumer that returns one poll of records for one partition, then an empty one stopping the runner."""

    def __init__(self, physical_topic: str, values: list[bytes]):
        self.tp = TopicPartition(physical_topic, 0)
        self.records = [SimpleNamespace(topic=physical_topic, partition=0, offset=offset, key=b"k", value=value,
                                        headers=[]) for offset, value in enumerate(values)]
        self.committed: dict = {}
        self.paused: list = []
        self.polled = False
        self.runner: ConsumerRunner | None = None

    def subscribe(self, topics, listener=None):
        pass

    def poll(self, timeout_ms=0):
        if self.polled:
            self.runner.stop()
            return {}
        self.polled = True
        return {self.tp: self.records}

    def position(self, tp):
        return len(self.records)

    def commit(self, offsets):
        self.committed.update({tp: meta.offset for tp, meta in offsets.items()})

    def seek(self, tp, offset):
        pass

    def pause(self, tp):
        self.paused.append(tp)

    def assignment(self):
        return {self.tp}

    def end_offsets(self, partitions):
        return {tp: len(self.records) for tp in partitions}

    def close(self, autocommit=False):
        pass


class DeadLetters:
    def __init__(self):
        self.sent: list[tuple[str, bytes, dict]] = []

    def send(self, topic, key=None, value=None, headers=None):
        self.sent.append((topic, value, dict(headers)))
        return SimpleNamespace(get=lambda timeout=None: None)


def _event(event_type: str, data: dict, version: int = 1) -> bytes:
    return new_event(event_type=event_type, schema_version=version, producer="sessions", aggregate_type="meeting",
                     aggregate_id="m-1", aggregate_version=1, data=data, correlation_id="c-1",
                     causation_id=None).to_json()


def _run(values: list[bytes]):
    settings = Settings(service_name="matching", jwt_secret=secrets.token_urlsafe(32), environment="development",
                        kafka_topic_prefix="t.")
    registry, view, dead = CountingRegistry(), ErasedView(), DeadLetters()
    runner = ConsumerRunner(settings, group_id="matching-erasures", projections=[view], registry=registry,
                            database=FakeDatabase(), producer=dead)
    consumer = OnePoll("t." + TOPIC, values)
    consumer.runner = runner
    runner._make_consumer = lambda group_id: consumer  # the in-memory consumer instead of Kafka's
    runner.run()
    return SimpleNamespace(runner=runner, registry=registry, view=view, dead=dead, consumer=consumer)


def test_unhandled_types_are_read_past_without_validating_them_and_the_handled_one_applies():
    busy = [_event(BUSY, {"meeting_id": f"m-{n}"}) for n in range(50)]
    # Even data its schema would refuse: this runner never looks at it.
    busy.append(_event(BUSY, {"meeting_id": 7}))
    run = _run(busy + [_event(HANDLED, {"employee_id": "E1"})] + busy)

    assert run.registry.validated == [HANDLED]
    assert run.view.erased == ["E1"]
    assert run.dead.sent == []
    assert run.consumer.committed == {run.consumer.tp: 103}  # past every record
    assert run.runner.watermarks.get("t." + TOPIC, 0) == 103


def test_poison_is_still_dead_lettered_and_a_handled_type_still_fully_validated():
    values = [
        b"{not json",
        json.dumps({"no": "type"}).encode(),
        _event(HANDLED, {"employee_id": 42}),  # handled: its data is validated, the field named
        _event(BUSY, {"meeting_id": "m-1"}),
        _event(HANDLED, {"employee_id": "E2"}),
    ]
    run = _run(values)

    reasons = [headers["dlq.error.reason"] for _, _, headers in run.dead.sent]
    assert reasons == [b"invalid_json", b"invalid_envelope", b"invalid_data"]
    assert b"employee_id" in run.dead.sent[2][2]["dlq.error.message"]
    assert run.view.erased == ["E2"]
    assert run.registry.validated == [HANDLED, HANDLED]
    assert run.consumer.committed == {run.consumer.tp: 5}


def test_a_handled_type_newer_than_the_code_still_stops_the_partition_but_an_unhandled_one_does_not():
    run = _run([_event(BUSY, {"meeting_id": "m-1"}, version=9), _event(HANDLED, {"employee_id": "E3"}, version=2),
                _event(HANDLED, {"employee_id": "E4"})])

    assert run.runner.paused() == {("t." + TOPIC, 0): "unknown_schema_version"}
    assert run.view.erased == []
    assert run.consumer.committed == {run.consumer.tp: 1}  # the unhandled record before it counts as applied
