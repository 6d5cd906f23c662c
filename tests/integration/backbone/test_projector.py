"""The store projector on a real MongoDB: own-stream views with a checkpoint, private data,
read-your-writes, idempotence, one writer at a time, events upcast on the way in."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from shared.aggregate import AggregateStore, Causation, NewEvent
from shared.consumer import Projection
from shared.eventstore import COMMITS, EventStore, stream_key
from shared.mongo import database_for
from shared.projector import CHECKPOINTS, StoreProjector, checkpoint_id
from tests.helpers import wait_until
from tests.integration.backbone.sample_views import NOTE_WRITTEN, ThingsView, things_registry

pytestmark = pytest.mark.integration

CAUSE = Causation("corr", None)


def _context(settings, registry=None):
    database = database_for(settings)
    store = EventStore(database)
    store.ensure_indexes()
    registry = registry or things_registry()
    return SimpleNamespace(settings=settings, database=database, store=store,
                           things=AggregateStore(store, registry, producer="test", aggregate_type="thing"),
                           registry=registry)


def _projector(context, **kwargs):
    return StoreProjector(context, [ThingsView(context.database)], name="things", registry=context.registry, **kwargs)


def _note(context, thing_id: str, title: str, *, text: str | None = None, tags=("a",)):
    version = context.things.load(thing_id).version
    data = {"thing_id": thing_id, "title": title, "tags": list(tags)}
    return context.things.append(thing_id, version, [NewEvent(NOTE_WRITTEN, data)], CAUSE,
                                 private={0: {"text": text}} if text else None)


def _view(context) -> dict:
    return {d["_id"]: d for d in context.database["things"].find({})}


def test_catch_up_applies_own_events_with_their_private_data_and_moves_the_checkpoint(make_settings):
    context = _context(make_settings("backbone"))
    _note(context, "t1", "first", text="secret one")
    _note(context, "t2", "other")
    last = _note(context, "t1", "second", text="secret two")
    projector = _projector(context)
    assert projector.checkpoint() == 1
    assert projector.catch_up() == 3
    assert projector.checkpoint() == last.position + 1
    view = _view(context)
    assert view["t1"]["title"] == "second" and view["t1"]["notes"] == 2
    assert view["t1"]["private"] == {"1": "secret one", "2": "secret two"}
    assert view["t2"]["private"] == {}
    assert projector.catch_up() == 0  # nothing new


def test_applying_every_event_again_changes_nothing(make_settings):
    context = _context(make_settings("backbone"))
    for i in range(12):
        _note(context, f"t{i % 4}", f"title {i}", text=f"text {i}" if i % 3 == 0 else None)
    projector = _projector(context)
    projector.catch_up()
    once = _view(context)
    checkpoints = context.database[CHECKPOINTS]

    @hsettings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(rewind_to=st.integers(min_value=1, max_value=13))
    def replay_from(rewind_to):
        checkpoints.find_one_and_replace({"_id": checkpoint_id("things", 0)}, {"next_position": rewind_to})
        projector.catch_up()
        assert _view(context) == once
        assert projector.checkpoint() == 13

    replay_from()


def test_events_stored_at_an_older_version_reach_handlers_upcast(make_settings):
    settings = make_settings("backbone")
    old = _context(settings, registry=things_registry(with_v2=False))
    old.things.append("t1", 0, [NewEvent(NOTE_WRITTEN, {"thing_id": "t1", "title": "v1 note"})], CAUSE)
    new = _context(settings)  # the deployed code knows v2 (tags) and the upcaster
    _projector(new).catch_up()
    assert _view(new)["t1"]["tags"] == [] and _view(new)["t1"]["title"] == "v1 note"


def test_wait_for_gives_read_your_writes_while_the_worker_runs(make_settings):
    context = _context(make_settings("backbone"))
    worker = _projector(context)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        api_side = _projector(context)  # what a request handler holds: it only reads the checkpoint
        for i in range(5):
            appended = _note(context, "t1", f"title {i}")
            assert api_side.wait_for(appended.position, timeout_s=2.0)
            assert _view(context)["t1"]["title"] == f"title {i}"
    finally:
        stop.set()
        thread.join(timeout=10)
    appended = _note(context, "t1", "nobody projects this")
    assert api_side.wait_for(appended.position, timeout_s=0.2) is False
    assert api_side.wait_for(0) is True


def test_one_writer_at_a_time(make_settings):
    context = _context(make_settings("backbone", relay_lease_ttl_s=3.0))
    first, second = _projector(context), _projector(context)
    stop = threading.Event()
    threads = [threading.Thread(target=p.run, args=(stop,), daemon=True) for p in (first, second)]
    for thread in threads:
        thread.start()
    try:
        for i in range(8):
            _note(context, f"t{i}", "x")
        wait_until(lambda: first.checkpoint() == 9, message="all applied")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert sorted([first.applied, second.applied]) == [0, 8]


def test_a_failing_handler_stops_at_the_commit_and_resumes_without_skipping(make_settings):
    context = _context(make_settings("backbone"))
    _note(context, "t1", "one")
    _note(context, "t2", "two")
    projector = _projector(context)
    view = projector.projections[0]
    original = view.note_written
    calls = {"n": 0}

    def flaky(envelope):
        if envelope.aggregate_id == "t2" and calls["n"] < 3:
            calls["n"] += 1
            raise RuntimeError("a bug")
        original(envelope)

    view.note_written = flaky
    projector._routes = {}
    projector.generation = -1  # re-read handlers
    stop = threading.Event()
    thread = threading.Thread(target=projector.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: "t2" in _view(context), timeout_s=15, message="t2 applied after the failures")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert calls["n"] == 3 and projector.checkpoint() == 3


def test_a_newer_version_from_a_newer_deployment_stops_the_projector_until_the_code_knows_it(make_settings):
    settings = make_settings("backbone")
    newer = _context(settings)  # a new API version is deployed first and writes v2
    _note(newer, "t1", "written by v2 code")
    older = _context(settings, registry=things_registry(with_v2=False))
    stale = _projector(older)  # the old worker still runs
    stop = threading.Event()
    thread = threading.Thread(target=stale.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: stale._paused_reason == "unknown_schema_version", message="projector stopped")
        assert stale.checkpoint() == 1 and "t1" not in _view(older)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert _projector(newer).catch_up() == 1  # the worker's deploy reads it
    assert _view(newer)["t1"]["title"] == "written by v2 code"


class _LoadsWhatItReactsTo(Projection):
    """A process manager's shape (matching's run processor): on an event, it loads that event's
    own stream and decides from what it finds there."""

    name = "reacts"
    topics = ()
    collections = ()

    def __init__(self, context):
        self.context = context
        self.seen: list[tuple[str, int]] = []

    def handlers(self):
        return {NOTE_WRITTEN: self.written}

    def reset(self) -> None:
        pass

    def written(self, envelope) -> None:
        self.seen.append((envelope.aggregate_id, self.context.things.load(envelope.aggregate_id).version))


def test_a_handler_loading_the_stream_it_reacts_to_finds_the_commit_before_its_pointer_is_written(make_settings):
    # A commit is inserted before its stream's pointer: a projector can apply it in between (the
    # writer slow, or gone). Before, the handler then loaded the stream short of its own event: a
    # matching run's request read as no run, and the run never started.
    context = _context(make_settings("backbone"))
    _note(context, "t1", "first")
    second = _note(context, "t1", "second")
    pointers = context.database[COMMITS]
    assert pointers.delete_one({"_id": stream_key("t1", 2)}).deleted_count == 1  # as if not yet written
    context.store._prefixes.clear()
    assert context.things.load("t1").version == 1  # outside a projector: the stream ends at the gap

    manager = _LoadsWhatItReactsTo(context)
    StoreProjector(context, [manager], name="reacts", registry=context.registry).catch_up()
    assert manager.seen == [("t1", 1), ("t1", 2)]  # each event sees its own stream through itself
    assert pointers.find_one({"_id": stream_key("t1", 2)})["position"] == second.position  # restored
    context.store._prefixes.clear()
    assert context.things.load("t1").version == 2
