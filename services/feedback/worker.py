"""The feedback worker: projects matching and sessions events (Kafka) and its own event store;
sends the end-of-cohort survey when a cohort closes; relays its events; and asks for progress
reviews and surveys when they fall due."""
from __future__ import annotations

from shared.config import Settings
from shared.consumer import ConsumerRunner
from shared.worker import PeriodicJob, Worker, consumer_for, serve, service_worker
from services.feedback import bootstrap

SCHEDULE_INTERVAL_S = 300.0


def build_consumer(settings: Settings | None = None, producer=None, clock=None, context=None) -> ConsumerRunner:
    """The consumer group's runner; also what `python -m shared.cli rebuild feedback` replays with."""
    context = context or bootstrap.build(settings, clock=clock)
    return consumer_for(context, group_id=bootstrap.CONSUMER_GROUP, registry=bootstrap.registry(), producer=producer)


def jobs(context: bootstrap.FeedbackContext) -> list[PeriodicJob]:
    return [
        PeriodicJob("progress-reviews", SCHEDULE_INTERVAL_S, context.commands.request_due_reviews),
        PeriodicJob("cohort-surveys", SCHEDULE_INTERVAL_S, context.commands.request_due_surveys),
        PeriodicJob("retention", context.settings.retention_interval_s, context.retention.run),
    ]


def build_worker(settings: Settings | None = None) -> Worker:
    context = bootstrap.build(settings)
    return service_worker(context, build_consumer, jobs=jobs(context))


def main() -> None:
    serve(build_worker())


if __name__ == "__main__":
    main()
