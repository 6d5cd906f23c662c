"""A service's background process: the relay, the consumer runner, the store projector, periodic jobs.

One process per service (scaled by replicas: the consumer group shares partitions, the relay
lease lets one replica publish). SIGTERM and SIGINT stop everything cleanly: the consumer
finishes the record in hand and commits, the relay finishes its batch.
"""
from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from prometheus_client import start_http_server

from shared.config import Settings
from shared.consumer import ConsumerRunner
from shared.http.audit import AuditRetention
from shared.kafka import ensure_topics, make_producer
from shared.relay import EventRelay

log = logging.getLogger(__name__)


@dataclass
class PeriodicJob:
    name: str
    interval_s: float
    run: Callable[[], object]


@dataclass
class Worker:
    settings: Settings
    consumer: ConsumerRunner | None = None
    relay: Any = None
    jobs: list[PeriodicJob] = field(default_factory=list)
    projector: Any = None  # shared.projector.StoreProjector: the service's own-stream views

    def __post_init__(self):
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start_background(self) -> None:
        if self.relay is not None:
            self._spawn("relay", lambda: self.relay.run(self._stop))
        if self.projector is not None:
            self._spawn("projector", lambda: self.projector.run(self._stop))
        for job in self.jobs:
            self._spawn(job.name, lambda job=job: self._run_periodic(job))

    def _spawn(self, name: str, target) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _run_periodic(self, job: PeriodicJob) -> None:
        while not self._stop.is_set():
            try:
                job.run()
            except Exception:  # noqa: BLE001 - a failing job retries at its next tick
                log.exception("periodic job %s failed", job.name)
            self._stop.wait(job.interval_s)

    def run_forever(self) -> None:
        """Block until stopped (signal or stop()); the consumer, if any, runs on this thread."""
        self.start_background()
        try:
            if self.consumer is not None:
                self.consumer.run()
            else:
                self._stop.wait()
        finally:
            self.stop()
            for thread in self._threads:
                thread.join(timeout=15)

    def stop(self) -> None:
        self._stop.set()
        if self.consumer is not None:
            self.consumer.stop()


def serve(worker: Worker) -> None:
    """Process entry point: logging, metrics endpoint, signals, then run until told to stop."""
    settings = worker.settings
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr="0.0.0.0")

    def _terminate(signum, frame):
        log.info("signal %s: stopping", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    log.info("%s worker started", settings.service_name)
    worker.run_forever()
    log.info("%s worker stopped", settings.service_name)


def consumer_for(context, *, group_id: str, registry, producer=None) -> ConsumerRunner:
    """A service's consumer runner over its context's projections (also what `rebuild` replays with).

    `context` is a service's wiring (bootstrap.build): settings, database, projections().
    """
    return ConsumerRunner(
        context.settings,
        group_id=group_id,
        projections=context.projections(),
        registry=registry,
        database=context.database,
        producer=producer or make_producer(context.settings),
    )


def projector_for(context, *, registry=None):
    """The service's store projector over `context.own_projections()` (None when it has none).

    One name per service (`<service>-own`), so the worker that applies and the API that waits
    (`wait_for`) read the same checkpoint. A context may build and keep its own as `context.projector`.
    """
    from shared.projector import StoreProjector

    existing = getattr(context, "projector", None)
    if existing is not None:
        return existing
    own = getattr(context, "own_projections", None)
    projections = list(own()) if callable(own) else []
    if not projections:
        return None
    return StoreProjector(context, projections, name=f"{context.settings.service_name}-own", registry=registry)


def audit_retention_job(context) -> PeriodicJob:
    """Every service keeps an audit trail in its database (shared/http/audit.py); its worker purges
    entries past `audit_retention_days`, as often as the other retention jobs run."""
    settings = context.settings
    retention = AuditRetention(context.database, context.clock, days=settings.audit_retention_days)
    return PeriodicJob("audit-retention", settings.retention_interval_s, retention.run)


def service_worker(context, build_consumer, jobs=()) -> Worker:
    """The standard worker of a service: topics and indexes ensured, consumer, relay, store projector, jobs
    (the service's own and the audit trail's retention).

    The relay and the consumer share one producer (each replaces its own after failures).
    Topics and indexes are created by `python -m shared.cli migrate` before anything serves; the
    worker ensures them again at start (idempotent) so a worker alone still starts clean.
    """
    settings = context.settings
    ensure_topics(settings)
    context.ensure_indexes()
    producer = make_producer(settings)
    return Worker(
        settings=settings,
        consumer=build_consumer(settings, producer, context=context),
        relay=EventRelay(settings, context.store, producer),
        jobs=[*jobs, audit_retention_job(context)],
        projector=projector_for(context),
    )
