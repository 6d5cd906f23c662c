"""The matching worker: HRIS and feedback reactions, the views, the run processor, the relay, expiry,
the erasure watch."""
from __future__ import annotations

import threading

from shared.config import Settings
from shared.consumer import ConsumerRunner
from shared.worker import PeriodicJob, Worker, consumer_for, serve, service_worker
from services.matching import bootstrap
from services.matching.application.erasure_progress import ErasureWatch


def build_consumer(settings: Settings | None = None, producer=None, context=None) -> ConsumerRunner:
    """The consumer group's runner; also what `python -m shared.cli rebuild matching` replays with."""
    context = context or bootstrap.build(settings)
    return consumer_for(context, group_id=bootstrap.CONSUMER_GROUP, registry=bootstrap.registry(), producer=producer)


def expiry_job(context) -> PeriodicJob:
    """Unanswered proposals past their deadline expire, freeing the mentor's seat."""
    return PeriodicJob("expire-proposals", bootstrap.EXPIRY_INTERVAL_S, context.commands.expire_overdue)


def process_runs(context) -> int:
    """One tick of the run processor: if this replica holds its lease, work through new commits.

    A run can take minutes (org-20k), longer than the lease: a heartbeat renews it meanwhile, so
    no other replica starts the same work. (If the lease is lost anyway, nothing is repeated twice:
    a run's outcome and each pairing are appended at a fixed stream version.)
    """
    projector = context.run_projector
    if not projector.lease.acquire():
        return 0
    done = threading.Event()

    def heartbeat():
        while not done.wait(max(0.5, projector.lease_ttl_s() / 3)):
            try:
                projector.lease.acquire()
            except Exception:  # noqa: BLE001 - the next beat tries again
                pass

    beat = threading.Thread(target=heartbeat, name="matching-runs-lease", daemon=True)
    beat.start()
    try:
        return projector.catch_up()
    finally:
        done.set()


def run_processor_job(context) -> PeriodicJob:
    return PeriodicJob("matching-runs", context.settings.matching_run_poll_s, lambda: process_runs(context))


def erasure_watch_job(context) -> PeriodicJob:
    """Erasures still pending in a service past ERASURE_OVERDUE_S: the gauges the alert reads."""
    watch = ErasureWatch(context.erasure_status)
    return PeriodicJob("erasure-watch", context.settings.erasure_watch_interval_s, watch.sweep)


def build_worker(settings: Settings | None = None) -> Worker:
    context = bootstrap.build(settings)
    return service_worker(context, build_consumer, jobs=[run_processor_job(context), expiry_job(context),
                                                         erasure_watch_job(context)])


def main() -> None:
    serve(build_worker())


if __name__ == "__main__":
    main()
