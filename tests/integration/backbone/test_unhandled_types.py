"""A consumer group reading a busy topic for one event type (matching follows sessions for
`PersonErased`): the records of other types are read past undecoded, the handled one applies,
poison is still dead-lettered, and the group's offsets and watermarks end past them all."""
from __future__ import annotations

import threading

import pytest
from kafka import KafkaConsumer, TopicPartition

from shared import topics
from shared.consumer import ConsumerRunner, Projection
from shared.events.catalog import default_registry
from shared.events.envelope import new_event
from shared.kafka import connection_options, make_producer
from shared.mongo import database_for
from tests.helpers import read_topic, wait_until
from tests.integration.backbone.sample_views import publish

pytestmark = pytest.mark.integration

GROUP = "backbone-erasures"


class ErasuresSeen(Projection):
    """Sessions' `PersonErased` only: one document per erased person."""

    name = "test-erasures-seen"
    topics = (topics.SESSIONS,)

    def __init__(self, database):
        self.collection = database["erasures_seen"]

    def handlers(self):
        return {"PersonErased": lambda envelope: self.collection.replace_one(
            {"_id": envelope.data["employee_id"]}, {"at": envelope.data["at"]}, upsert=True)}

    def reset(self) -> None:
        self.collection.drop()


def _event(event_type: str, data: dict, aggregate_id: str) -> bytes:
    return new_event(event_type=event_type, schema_version=2 if event_type == "MeetingScheduled" else 1,
                     producer="sessions", aggregate_type="meeting", aggregate_id=aggregate_id, aggregate_version=1,
                     data=data, correlation_id="c", causation_id=None).to_json()


def _meeting(n: int) -> bytes:
    return _event("MeetingScheduled", {"meeting_id": f"m-{n}", "pairing_id": "p-1", "cohort_id": "c-1",
                                       "mentor_id": "E1", "mentee_id": "E2", "organizer_id": "E1",
                                       "starts_at": "2026-12-01T09:00:00.000Z", "duration_minutes": 45,
                                       "timezone": "UTC", "actor_id": "E1"}, f"m-{n}")


def test_unhandled_events_are_read_past_the_handled_one_applies_and_poison_is_dead_lettered(make_settings):
    settings = make_settings("backbone")
    erased = _event("PersonErased", {"employee_id": "E7", "service": "sessions", "at": "2026-11-27T10:00:00.000Z"}, "E7")
    # One key: one partition, in this order. A meeting whose data its schema refuses is not this
    # group's business (sessions' own consumers dead-letter it); bad JSON is everyone's poison.
    values = ([_meeting(n) for n in range(30)] + [_event("MeetingScheduled", {"meeting_id": 7}, "m-bad")]
              + [erased, b"{not json"] + [_meeting(n) for n in range(30, 60)])
    publish(settings, topics.SESSIONS, [("k", value) for value in values])
    database = database_for(settings)
    runner = ConsumerRunner(settings, group_id=GROUP, projections=[ErasuresSeen(database)], registry=default_registry(),
                            database=database, producer=make_producer(settings))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: runner.processed >= len(values), message="every record read")
    finally:
        runner.stop()
        thread.join(timeout=30)

    assert {doc["_id"] for doc in database["erasures_seen"].find({})} == {"E7"}
    dead = read_topic(settings, topics.dlq(topics.SESSIONS), expect=1)
    assert [(dict(r.headers)["dlq.error.reason"], r.value) for r in dead] == [(b"invalid_json", b"{not json")]

    name = topics.resolve(topics.SESSIONS, settings.kafka_topic_prefix)
    consumer = KafkaConsumer(**connection_options(settings), group_id=f"{settings.kafka_topic_prefix}{GROUP}",
                             enable_auto_commit=False)
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name))]
        ends = consumer.end_offsets(partitions)
        written = [tp for tp in partitions if ends[tp]]
        assert len(written) == 1 and ends[written[0]] >= len(values)
        assert consumer.committed(written[0]) == ends[written[0]]  # past all of them
    finally:
        consumer.close()
    position = database["consumer_positions"].find_one({"_id": f"{GROUP}|{name}|{written[0].partition}"})
    assert position["next_offset"] == ends[written[0]]
