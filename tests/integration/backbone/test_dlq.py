"""Dead letters: the consumer's producer renews after failed sends; `dlq redrive` re-publishes."""
from __future__ import annotations

import json
import threading

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from shared import topics
from shared.cli import redrive
from shared.consumer import ConsumerRunner, InvalidData
from shared.kafka import make_producer, connection_options
from shared.mongo import database_for
from tests.helpers import hris_upsert, read_topic, wait_until
from tests.integration.backbone.sample_views import PeopleView, hris_registry, people_runner, publish

pytestmark = pytest.mark.integration


class _FailedFuture:
    def get(self, timeout=None):
        raise KafkaTimeoutError("Batch expired (the broker restarted)")


class StuckProducer:
    """What a kafka-python producer can become after a broker outage: every send times out."""

    def __init__(self):
        self.sends = 0
        self.closed = False

    def send(self, *args, **kwargs):
        self.sends += 1
        return _FailedFuture()

    def close(self, timeout=None):
        self.closed = True


def _people(settings) -> dict:
    return {doc["_id"]: doc for doc in database_for(settings)["people"].find({})}


class Running:
    def __init__(self, runner):
        self.runner = runner
        self.thread = threading.Thread(target=runner.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.runner

    def __exit__(self, *exc):
        self.runner.stop()
        self.thread.join(timeout=30)


def test_the_dead_letter_producer_is_replaced_after_failed_sends_and_nothing_is_lost(make_settings):
    settings = make_settings("backbone")
    publish(settings, topics.HRIS_EMPLOYEES, [("E1", b"{not json"), ("E1", hris_upsert("E1", occurred_at="2026-11-01T00:00:00Z"))])
    stuck = StuckProducer()
    attempts = {"n": 0}

    def factory():
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise KafkaTimeoutError("Kafka still down")  # keeps the old one, tries again next time
        return make_producer(settings)

    runner = people_runner(settings, database_for(settings), producer=stuck, producer_factory=factory)
    with Running(runner):
        wait_until(lambda: "E1" in _people(settings), message="the record behind the poison applied")
    dead = read_topic(settings, topics.dlq(topics.HRIS_EMPLOYEES), expect=1)
    assert [dict(r.headers)["dlq.error.reason"] for r in dead] == [b"invalid_json"]
    assert stuck.sends == 2 and attempts["n"] == 2
    assert runner.producer is not stuck and not stuck.closed  # a shared producer is never closed
    runner.producer.close()


class Level9NotSupported(PeopleView):
    """Refuses level 9 as invalid data (until "the fix")."""

    refuse = True

    def upserted(self, envelope):
        if self.refuse and envelope.data.get("level") == 9:
            raise InvalidData("level 9 is not supported", {"level": ["unsupported"]})
        super().upserted(envelope)


def _refusing_runner(settings, group_id: str) -> ConsumerRunner:
    database = database_for(settings)
    return ConsumerRunner(settings, group_id=group_id, projections=[Level9NotSupported(database)],
                          registry=hris_registry(), database=database, producer=make_producer(settings))


def test_redrive_republishes_dead_letters_once_and_remembers_how_far_it_went(make_settings):
    settings = make_settings("backbone")
    producer = KafkaProducer(**connection_options(settings))
    topic = topics.resolve(topics.HRIS_EMPLOYEES, settings.kafka_topic_prefix)
    producer.send(topic, key=b"E9", value=json.dumps(hris_upsert("E9", occurred_at="2026-11-01T00:00:00Z", level=9)).encode(),
                  headers=[("traceparent", b"00-abc-def-01")])
    producer.flush()
    producer.close()
    runners = [_refusing_runner(settings, group) for group in ("group-a", "group-b")]
    with Running(runners[0]), Running(runners[1]):
        wait_until(lambda: len(read_topic(settings, topics.dlq(topics.HRIS_EMPLOYEES), expect=2, timeout_s=1)) >= 2,
                   message="both groups dead-lettered it")
    dead = read_topic(settings, topics.dlq(topics.HRIS_EMPLOYEES), expect=2)
    assert sorted(dict(r.headers)["dlq.consumer.group"] for r in dead) == [b"group-a", b"group-b"]
    assert "E9" not in _people(settings)

    Level9NotSupported.refuse = False  # the fix is deployed
    assert redrive(topics.HRIS_EMPLOYEES, settings) == 1  # one record, though two groups dead-lettered it
    assert redrive(topics.HRIS_EMPLOYEES, settings) == 0  # it remembers how far it went
    records = read_topic(settings, topics.HRIS_EMPLOYEES, expect=2)
    again = records[-1]
    assert again.key == b"E9" and json.loads(again.value)["data"]["level"] == 9
    assert again.headers == [("traceparent", b"00-abc-def-01")]  # original headers, no dlq.* ones
    with Running(_refusing_runner(settings, "group-a")):
        wait_until(lambda: _people(settings).get("E9", {}).get("level") == 9, message="applied after the redrive")
