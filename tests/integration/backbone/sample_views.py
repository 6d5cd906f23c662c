"""Test-only read models and events for the backbone tests (no service code: services change on
their own schedule, the kernel's tests should not move with them).

- `PeopleView`: HRIS records, newest record wins, fed by Kafka; opted in to generations.
- `ThingsView`: a service's own `Thing` stream (test-only schemas NoteWritten v1 -> v2), fed by a
  StoreProjector, keeping each note's private text.
"""
from __future__ import annotations

import json
import uuid

from kafka import KafkaProducer
from marshmallow import Schema, fields

from shared import topics
from shared.consumer import ConsumerRunner, Projection
from shared.events.catalog import hris
from shared.events.registry import EventRegistry
from shared.kafka import make_producer, connection_options
from shared.projector import private_of

GROUP = "backbone-test"


class PeopleView(Projection):
    name = "test-people"
    topics = (topics.HRIS_EMPLOYEES,)
    collections = ("people",)

    def __init__(self, database):
        self.fail_with: BaseException | None = None  # tests make the handler fail
        self.bind(database)

    def bind(self, database) -> None:
        self.database = database
        self.collection = database["people"]

    def handlers(self):
        return {"EmployeeUpserted": self.upserted, "EmployeeTerminated": self.terminated}

    def reset(self) -> None:
        self.collection.drop()

    def _newer(self, envelope) -> tuple[dict, list] | None:
        if self.fail_with is not None:
            raise self.fail_with
        stamp = [envelope.occurred_at, envelope.event_id]
        employee_id = envelope.data["employee_id"]
        doc = self.collection.find_one({"_id": employee_id}) or {"_id": employee_id}
        if doc.get("stamp") is not None and stamp <= doc["stamp"]:
            return None
        return doc, stamp

    def upserted(self, envelope) -> None:
        found = self._newer(envelope)
        if found:
            doc, stamp = found
            doc.update(title=envelope.data.get("title"), level=envelope.data.get("level"), status="active", stamp=stamp)
            self.collection.find_one_and_replace({"_id": doc["_id"]}, doc, upsert=True)

    def terminated(self, envelope) -> None:
        found = self._newer(envelope)
        if found:
            doc, stamp = found
            doc.update(status="terminated", stamp=stamp)
            self.collection.find_one_and_replace({"_id": doc["_id"]}, doc, upsert=True)


def hris_registry() -> EventRegistry:
    registry = EventRegistry()
    hris.register(registry)
    return registry


def people_runner(settings, database, *, producer=None, group_id: str = GROUP, **kwargs) -> ConsumerRunner:
    view = PeopleView(database)
    return ConsumerRunner(settings, group_id=group_id, projections=[view], registry=hris_registry(),
                          database=database, producer=producer if producer is not None else make_producer(settings),
                          **kwargs)


def publish(settings, contract_topic: str, records: list[tuple[str | None, object]]) -> None:
    producer = KafkaProducer(**connection_options(settings))
    name = topics.resolve(contract_topic, settings.kafka_topic_prefix)
    for key, value in records:
        producer.send(name, key=key.encode() if key else None,
                      value=value if isinstance(value, bytes) else json.dumps(value).encode())
    producer.flush()
    producer.close()


# -- an own stream with a schema that evolved ------------------------------------------------------

NOTE_WRITTEN = "NoteWritten"


class NoteWrittenV1(Schema):
    thing_id = fields.String(required=True)
    title = fields.String(required=True)


class NoteWrittenV2(Schema):
    thing_id = fields.String(required=True)
    title = fields.String(required=True)
    tags = fields.List(fields.String(), required=True)


def things_registry(*, with_v2: bool = True) -> EventRegistry:
    registry = EventRegistry()
    registry.register(NOTE_WRITTEN, 1, NoteWrittenV1)
    if with_v2:
        registry.register(NOTE_WRITTEN, 2, NoteWrittenV2)
        registry.register_upcaster(NOTE_WRITTEN, 1, lambda data: {**data, "tags": []})
    return registry


class ThingsView(Projection):
    """One document per thing: its last title and tags, the notes applied, each note's private text."""

    name = "test-things"
    topics = ()
    collections = ("things",)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.collection = database["things"]

    def handlers(self):
        return {NOTE_WRITTEN: self.note_written}

    def reset(self) -> None:
        self.collection.drop()

    def note_written(self, envelope) -> None:
        doc = self.collection.find_one({"_id": envelope.aggregate_id}) or {"_id": envelope.aggregate_id, "version": 0,
                                                                           "notes": 0, "private": {}}
        if doc["version"] >= envelope.aggregate_version:
            return  # applied already
        private = private_of(envelope) or {}
        doc.update(version=envelope.aggregate_version, title=envelope.data["title"], tags=envelope.data["tags"],
                   notes=doc["notes"] + 1)
        if private:
            doc["private"][str(envelope.aggregate_version)] = private.get("text")
        self.collection.find_one_and_replace({"_id": doc["_id"]}, doc, upsert=True)


def new_id() -> str:
    return uuid.uuid4().hex[:8]
