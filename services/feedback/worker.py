"""The feedback worker: projects matching, sessions and its own events; relays its events; and
asks for progress reviews and end-of-cohort surveys when they fall due."""
from __future__ import annotations

from shared.config import Settings
from shared.consumer import ConsumerRunner
from shared.kafka import ensure_topics, make_producer
from shared.relay import EventRelay
from shared.worker import PeriodicJob, Worker, serve
from services.feedback import bootstrap

SCHEDULE_INTERVAL_S = 300.0


def build_consumer(settings: Settings | None = None, producer=None, clock=None) -> ConsumerRunner:
    """The consumer group's runner; also what `python -m shared.cli rebuild feedback` replays with."""
    context = bootstrap.build(settings, clock)
    return ConsumerRunner(
        context.settings,
        group_id=bootstrap.CONSUMER_GROUP,
        projections=context.projections(),
        registry=bootstrap.registry(),
        database=context.database,
        producer=producer or make_producer(context.settings),
    )


def jobs(context: bootstrap.FeedbackContext) -> list[PeriodicJob]:
    return [
        PeriodicJob("progress-reviews", SCHEDULE_INTERVAL_S, context.service.request_due_reviews),
        PeriodicJob("cohort-surveys", SCHEDULE_INTERVAL_S, context.service.request_due_surveys),
    ]


def build_worker(settings: Settings | None = None) -> Worker:
    context = bootstrap.build(settings)
    settings = context.settings
    ensure_topics(settings)
    context.ensure_indexes()
    producer = make_producer(settings)
    consumer = build_consumer(settings, producer)
    relay = EventRelay(settings, context.store, producer)
    return Worker(settings=settings, consumer=consumer, relay=relay, jobs=jobs(context))


def main() -> None:
    serve(build_worker())


if __name__ == "__main__":
    main()
