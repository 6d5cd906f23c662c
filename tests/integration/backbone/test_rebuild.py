"""Rebuilds into a new generation of collections, swapped in while workers run, fenced; topics that
keep their history; the migrate step."""
from __future__ import annotations

import threading
from dataclasses import replace
from types import SimpleNamespace

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from shared import topics
from shared.aggregate import AggregateStore, Causation, NewEvent
from shared.cli import migrate
from shared.eventstore import EventStore
from shared.generations import Generations, live_database
from shared.kafka import DLQ_RETENTION_MS, ensure_topics, topic_retention_ms, connection_options
from shared.mongo import client_for, database_for
from shared.projector import StoreProjector, rebuild_service
from tests.helpers import hris_upsert, wait_until
from tests.integration.backbone.sample_views import (
    NOTE_WRITTEN, ThingsView, people_runner, publish, things_registry,
)

pytestmark = pytest.mark.integration


def _context(settings, database=None):
    database = database if database is not None else database_for(settings)
    store = EventStore(database_for(settings))
    registry = things_registry()
    return SimpleNamespace(settings=settings, database=database, store=store, registry=registry,
                           things=AggregateStore(store, registry, producer="test", aggregate_type="thing"),
                           own_projections=lambda: [ThingsView(database)])


def _note(context, thing_id: str, title: str, text: str | None = None):
    version = context.things.load(thing_id).version
    return context.things.append(thing_id, version, [NewEvent(NOTE_WRITTEN, {"thing_id": thing_id, "title": title,
                                                                             "tags": []})],
                                 Causation("corr", None), private={0: {"text": text}} if text else None)


def _people(n: int, start: int = 0) -> list:
    return [(f"E{i % 7}", hris_upsert(f"E{i % 7}", occurred_at=f"2026-11-01T00:{i // 60:02d}:{i % 60:02d}Z",
                                      level=1 + i % 9, title=f"title {i}")) for i in range(start, start + n)]


def _docs(collection) -> dict:
    return {d["_id"]: d for d in collection.find({})}


class Live:
    """A service's worker, as far as read models go: a consumer runner and a store projector."""

    def __init__(self, settings, context, **runner_kwargs):
        self.runner = people_runner(settings, context.database, **runner_kwargs)
        self.projector = StoreProjector(context, context.own_projections(), name="things", registry=context.registry)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.runner.run, daemon=True),
                        threading.Thread(target=self.projector.run, args=(self.stop,), daemon=True)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.runner.stop()
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def _fresh_replay(settings) -> tuple[dict, dict]:
    """What the read models are from scratch: a replay of the topic and the store into a new database."""
    fresh = replace(settings, mongo_database=settings.database + "_x")
    database = database_for(fresh)
    try:
        people_runner(settings, database).replay()
        context = _context(settings, database)
        StoreProjector(context, context.own_projections(), name="things", registry=context.registry).catch_up()
        return _docs(database["people"]), _docs(database["things"])
    finally:
        client_for(settings.mongo_url).drop_database(fresh.database)


def test_a_rebuild_while_workers_run_swaps_in_a_copy_equal_to_the_live_one(make_settings):
    settings = make_settings("backbone")
    context = _context(settings)
    readers = live_database(context.database, ttl_s=0.1)
    publish(settings, topics.HRIS_EMPLOYEES, _people(30))
    for i in range(10):
        _note(context, f"t{i % 3}", f"note {i}", text=f"private {i}" if i % 2 else None)
    with Live(settings, context) as live:
        wait_until(lambda: live.runner.processed >= 30 and live.projector.checkpoint() == 11, message="live caught up")
        before = (_docs(readers["people"]), _docs(readers["things"]))

        rebuild_context = _context(settings)
        report = rebuild_service(rebuild_context, people_runner(settings, rebuild_context.database),
                                 registry=rebuild_context.registry, name="things", grace_s=0)
        assert report.generation == 1 and report.kafka_records == 30 and report.store_events == 10
        assert report.collections == ["people", "things"]
        assert Generations(context.database).current(fresh=True) == 1
        # readers now see the new copy, equal to what they saw
        wait_until(lambda: (_docs(readers["people"]), _docs(readers["things"])) == before, message="readers swapped")
        assert readers["people"].name == "people__g1"

        # the live workers follow: what happens next lands in the new generation
        publish(settings, topics.HRIS_EMPLOYEES, _people(20, start=30))
        for i in range(4):
            _note(context, "t9", f"after {i}", text="late secret")
        wait_until(lambda: len(_docs(context.database["things__g1"])) == 4
                   and _docs(context.database["things__g1"])["t9"]["notes"] == 4, message="projector re-bound")
        wait_until(lambda: live.runner.generation == 1 and live.runner.watermarks.group.endswith("@g1"),
                   message="runner re-bound")
        expected_people, expected_things = _fresh_replay(settings)
        wait_until(lambda: _docs(readers["people"]) == expected_people, message="people equal to a fresh replay")
        assert _docs(readers["things"]) == expected_things
        assert expected_things["t9"]["private"] == {str(v): "late secret" for v in range(1, 5)}


def test_a_worker_still_on_the_old_generation_never_writes_the_new_copy(make_settings):
    settings = make_settings("backbone")
    context = _context(settings)
    publish(settings, topics.HRIS_EMPLOYEES, _people(10))
    stale = people_runner(settings, context.database, generation=0)  # has not noticed the swap (yet)
    stale.replay()
    rebuild_service(context, people_runner(settings, context.database), name="things", grace_s=0)
    new_copy = _docs(context.database["people__g1"])
    assert new_copy == _docs(context.database["people"])

    publish(settings, topics.HRIS_EMPLOYEES, _people(5, start=10))
    wait_until(lambda: stale.replay() >= 0 and _docs(context.database["people"]) != new_copy,
               message="the stale worker applied the new records to ITS copy")
    assert _docs(context.database["people__g1"]) == new_copy  # untouched by the stale writer

    following = people_runner(settings, context.database)
    thread = threading.Thread(target=following.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: _docs(context.database["people__g1"]) == _docs(context.database["people"]),
                   message="a current worker brings the new copy up to date")
    finally:
        following.stop()
        thread.join(timeout=30)


def test_old_generations_are_dropped_keeping_the_previous_one(make_settings):
    settings = make_settings("backbone")
    context = _context(settings)
    _note(context, "t1", "one")
    StoreProjector(context, context.own_projections(), name="things", registry=context.registry).catch_up()
    first = rebuild_service(context, None, name="things", grace_s=0)
    assert first.dropped == [] and "things" in context.database.list_collection_names()
    second = rebuild_service(context, None, name="things", grace_s=0)
    assert second.generation == 2 and second.dropped == ["things"]
    names = context.database.list_collection_names()
    assert "things__g1" in names and "things__g2" in names and "things" not in names
    assert _docs(live_database(context.database)["things"])["t1"]["title"] == "one"


def test_event_topics_keep_history_forever_and_existing_topics_are_corrected(make_settings):
    settings = make_settings("backbone")
    prefix = settings.kafka_topic_prefix + "old."
    old = replace(settings, kafka_topic_prefix=prefix)
    admin = KafkaAdminClient(**connection_options(settings))
    try:
        name = topics.resolve(topics.SESSIONS, prefix)
        admin.create_topics([NewTopic(name, 1, 1, topic_configs={"retention.ms": str(14 * 24 * 3600 * 1000)})])
        wait_until(lambda: topic_retention_ms(admin, [name])[name] is not None, message="old topic visible")
        assert topic_retention_ms(admin, [name])[name] == 14 * 24 * 3600 * 1000
        ensure_topics(old)
        names = [topics.resolve(n, prefix) for t in topics.ALL for n in (t, topics.dlq(t))]
        expected = {n: DLQ_RETENTION_MS if n.endswith(".dlq") else -1 for n in names}
        wait_until(lambda: topic_retention_ms(admin, names) == expected, message="retention as wanted")
    finally:
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(prefix)])
        admin.close()


def test_migrate_creates_the_topics(make_settings):
    settings = make_settings("backbone")
    prefix = settings.kafka_topic_prefix + "m."
    migrate([], replace(settings, kafka_topic_prefix=prefix))
    admin = KafkaAdminClient(**connection_options(settings))
    try:
        wanted = {topics.resolve(n, prefix) for t in topics.ALL for n in (t, topics.dlq(t))}
        wait_until(lambda: {t for t in admin.list_topics() if t.startswith(prefix)} == wanted, message="topics listed")
        admin.delete_topics(sorted(wanted))
    finally:
        admin.close()
