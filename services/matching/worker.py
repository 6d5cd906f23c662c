"""The matching worker: consumes HRIS and feedback events, relays its own events, expires proposals."""
from __future__ import annotations

from shared.config import Settings
from shared.consumer import ConsumerRunner
from shared.worker import PeriodicJob, Worker, consumer_for, serve, service_worker
from services.matching import bootstrap


def build_consumer(settings: Settings | None = None, producer=None, context=None) -> ConsumerRunner:
    """The consumer group's runner; also what `python -m shared.cli rebuild matching` replays with."""
    context = context or bootstrap.build(settings)
    return consumer_for(context, group_id=bootstrap.CONSUMER_GROUP, registry=bootstrap.registry(), producer=producer)


def expiry_job(context) -> PeriodicJob:
    """Unanswered proposals past their deadline expire, freeing the mentor's seat."""
    return PeriodicJob("expire-proposals", bootstrap.EXPIRY_INTERVAL_S, context.service.expire_overdue)


def build_worker(settings: Settings | None = None) -> Worker:
    context = bootstrap.build(settings)
    return service_worker(context, build_consumer, jobs=[expiry_job(context)])


def main() -> None:
    serve(build_worker())


if __name__ == "__main__":
    main()
