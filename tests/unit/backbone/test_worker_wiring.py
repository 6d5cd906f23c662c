"""Worker wiring without servers: the store projector runs when a service has own-stream views;
generation-bound database handles name collections as the rebuild expects."""
from __future__ import annotations

import threading
from types import SimpleNamespace

from shared.config import Settings
from shared.generations import GenerationDatabase, physical
from shared.projector import StoreProjector
from shared.worker import Worker, projector_for


class _Database(dict):
    def __missing__(self, name):
        self[name] = SimpleNamespace(name=name)
        return self[name]


def test_physical_names_per_generation():
    assert physical("people", 0) == "people"
    assert physical("people", 3) == "people__g3"
    bound = GenerationDatabase(_Database(), 2, ["people"])
    assert bound["people"].name == "people__g2"
    assert bound["event_commits"].name == "event_commits"  # not a projection's: passes through
    assert GenerationDatabase(_Database(), 0, ["people"])["people"].name == "people"


def _context(own=None, projector=None):
    settings = Settings(service_name="svc")
    store = SimpleNamespace(db=_Database())
    context = SimpleNamespace(settings=settings, database=_Database(), store=store)
    if own is not None:
        context.own_projections = lambda: own
    if projector is not None:
        context.projector = projector
    return context


def test_projector_for_uses_the_contexts_own_or_builds_one_only_when_there_are_own_views():
    assert projector_for(_context()) is None
    assert projector_for(_context(own=[])) is None
    mine = object()
    assert projector_for(_context(own=[], projector=mine)) is mine

    from shared.consumer import Projection

    class View(Projection):
        name = "v"

        def handlers(self):
            return {}

        def reset(self):
            pass

    built = projector_for(_context(own=[View()]))
    assert isinstance(built, StoreProjector) and built.name == "svc-own"


def test_the_worker_runs_the_projector_and_stops_it():
    ran = threading.Event()

    class FakeProjector:
        def run(self, stop):
            ran.set()
            stop.wait()

    worker = Worker(settings=Settings(service_name="svc"), projector=FakeProjector())
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    assert ran.wait(5)
    worker.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
