"""A matching run's proposals reaching the views (issue 16, scale): BENCH_PROPOSALS (default 1,000)
`PairingProposed` commits in one cohort, as a run stores them, applied by the matching views'
store projector (MatchingViews and PartnersProjection, as the worker runs them) on the real database.

Three ways, each on its own database holding the same commits, timed from the first commit to the
last applied (`catch_up`):
- batched: what the worker does now (runs of pairing commits to `apply_batch`, the cohort's
  pairing index saved once per batch of up to 200 commits);
- one by one: every proposal applied on its own, its index chunk and directory saved each time (the
  projector before batching pairing events);
- one by one, no index: the same without the pairing index (before the index existed): the target.
"""
from __future__ import annotations

import os
import time
import uuid

from bench.harness import drop, isolated_settings, new_run
from services.matching.application.partners import PartnersProjection
from services.matching.application.projections import MatchingViews
from shared.events.catalog import default_registry
from shared.events.catalog import matching as ev
from shared.events.envelope import new_event
from shared.eventstore import EventStore, StreamAppend
from shared.mongo import database_for
from shared.projector import StoreProjector

PROPOSALS = int(os.environ.get("BENCH_PROPOSALS", "1000"))
APPEND_CHUNK = 500


def _proposals(cohort_id: str, count: int) -> list[StreamAppend]:
    appends = []
    for n in range(count):
        pairing_id = str(uuid.uuid4())
        event = new_event(event_type=ev.PAIRING_PROPOSED, schema_version=1, producer="matching",
                          aggregate_type="pairing", aggregate_id=pairing_id, aggregate_version=1,
                          correlation_id="bench-run", causation_id=None,
                          data={"pairing_id": pairing_id, "cohort_id": cohort_id, "mentor_id": f"M{n % 400:06d}",
                                "mentee_id": f"E{n:06d}", "score": 0.8, "reasons": ["bench"],
                                "proposed_by": "algorithm", "matching_run_id": "bench-run",
                                "answer_by": "2030-01-01T00:00:00.000Z"})
        appends.append(StreamAppend(pairing_id, 0, [event]))
    return appends


def _applied_s(database, mode: str) -> float:
    """Seconds for the views projector to apply every commit of `database`'s store, in `mode`."""
    views, partners = MatchingViews(database), PartnersProjection(database)
    if mode != "batched":  # what the projections listed before pairing events were batched
        views.batchable = frozenset({ev.PARTICIPANT_ENROLLED})
        partners.batchable = frozenset()
    if mode == "no index":
        views._index_pairings = lambda entries: None  # type: ignore[method-assign]
    projector = StoreProjector(EventStore(database), [views, partners], name="matching-own",
                               registry=default_registry(), database=database, generation=0)
    started = time.perf_counter()
    applied = projector.catch_up()
    elapsed = time.perf_counter() - started
    assert applied == 2 * PROPOSALS, applied  # two handlers per proposal
    return elapsed


def run() -> list[dict]:
    run_id = new_run()
    modes = ("one by one, no index", "one by one", "batched")
    settings = {mode: isolated_settings("matching", f"{run_id}{n}") for n, mode in enumerate(modes)}
    try:
        for mode in modes:
            store = EventStore(database_for(settings[mode]))
            store.ensure_indexes()
            appends = _proposals("bench-cohort", PROPOSALS)
            for start in range(0, len(appends), APPEND_CHUNK):
                store.append_many(appends[start:start + APPEND_CHUNK])
        seconds = {}
        for mode in modes:
            load = os.getloadavg()[0]
            seconds[mode] = (_applied_s(database_for(settings[mode]), mode.replace("one by one, ", "")), load)
            print(f"{mode}: {seconds[mode][0]:.1f} s (load {load:.1f})", flush=True)
        batched, load = seconds["batched"]
        rows = []
        for baseline in ("one by one", "one by one, no index"):
            base, base_load = seconds[baseline]
            rows.append({"benchmark": f"{PROPOSALS} proposals of a run into the views: batched", "unit": "s",
                         "value": round(batched, 1), "baseline": baseline, "baseline_value": round(base, 1),
                         "ratio": round(batched / base, 2),
                         "note": f"{PROPOSALS / batched:.0f}/s batched vs {PROPOSALS / base:.0f}/s; "
                                 f"load {load:.1f} (baseline's {base_load:.1f})"})
        return rows
    finally:
        drop(*settings.values())
