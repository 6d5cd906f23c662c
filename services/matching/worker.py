"""The matching worker: consumes HRIS and feedback events, relays its own events, expires proposals."""
from __future__ import annotations

from shared.config import Settings
from shared.consumer import ConsumerRunner
from shared.kafka import ensure_topics, make_producer
from shared.relay import EventRelay
from shared.worker import PeriodicJob, Worker, serve
from services.matching import bootstrap


def build_consumer(settings: Settings | None = None, producer=None, context=None) -> ConsumerRunner:
    """The consumer group's runner; also what `python -m shared.cli rebuild matching` replays with."""
    context = context or bootstrap.build(settings)
    return ConsumerRunner(
        context.settings,
        group_id=bootstrap.CONSUMER_GROUP,
        projections=context.projections(),
        registry=bootstrap.registry(),
        database=context.database,
        producer=producer or make_producer(context.settings),
    )


def expiry_job(context) -> PeriodicJob:
    """Unanswered proposals past their deadline expire, freeing the mentor's seat."""
    return PeriodicJob("expire-proposals", bootstrap.EXPIRY_INTERVAL_S, context.service.expire_overdue)


def build_worker(settings: Settings | None = None) -> Worker:
    context = bootstrap.build(settings)
    settings = context.settings
    ensure_topics(settings)
    context.ensure_indexes()
    producer = make_producer(settings)
    consumer = build_consumer(settings, producer, context=context)
    relay = EventRelay(settings, context.store, producer)
    return Worker(settings=settings, consumer=consumer, relay=relay, jobs=[expiry_job(context)])


def main() -> None:
    serve(build_worker())


if __name__ == "__main__":
    main()
