"""The matching worker: consumes HRIS events into its projections and relays its own events."""
from __future__ import annotations

from shared.config import Settings
from shared.consumer import ConsumerRunner
from shared.kafka import ensure_topics, make_producer
from shared.relay import EventRelay
from shared.worker import Worker, serve
from services.matching import bootstrap


def build_consumer(settings: Settings | None = None, producer=None) -> ConsumerRunner:
    """The consumer group's runner; also what `python -m shared.cli rebuild matching` replays with."""
    context = bootstrap.build(settings)
    return ConsumerRunner(
        context.settings,
        group_id=bootstrap.CONSUMER_GROUP,
        projections=context.projections(),
        registry=bootstrap.registry(),
        database=context.database,
        producer=producer or make_producer(context.settings),
    )


def build_worker(settings: Settings | None = None) -> Worker:
    context = bootstrap.build(settings)
    settings = context.settings
    ensure_topics(settings)
    context.store.ensure_indexes()
    producer = make_producer(settings)
    consumer = build_consumer(settings, producer)
    relay = EventRelay(settings, context.store, producer)
    return Worker(settings=settings, consumer=consumer, relay=relay)


def main() -> None:
    serve(build_worker())


if __name__ == "__main__":
    main()
