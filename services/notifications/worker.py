"""The notifications worker: consumes every mentoring topic and the HRIS, sends, relays outcomes.

Periodic jobs: `notifications-queue` (retries with backoff, quiet-hours deferrals, digests) and
`notifications-reminders` (24 hours before each meeting).
"""
from __future__ import annotations

from shared.config import Settings
from shared.consumer import ConsumerRunner
from shared.worker import PeriodicJob, Worker, consumer_for, serve, service_worker
from services.notifications import bootstrap


def build_consumer(settings: Settings | None = None, producer=None, *, context=None,
                   group_id: str = bootstrap.CONSUMER_GROUP) -> ConsumerRunner:
    """The consumer group's runner; also what `python -m shared.cli rebuild notifications` replays with."""
    context = context or bootstrap.build(settings)
    return consumer_for(context, group_id=group_id, registry=bootstrap.registry(), producer=producer)


def jobs(context) -> list[PeriodicJob]:
    return [
        PeriodicJob("notifications-queue", 5.0, context.notifier.process_queue),
        PeriodicJob("notifications-reminders", 60.0, context.reminders.send_due),
    ]


def build_worker(settings: Settings | None = None) -> Worker:
    context = bootstrap.build(settings)
    return service_worker(context, build_consumer, jobs=jobs(context))


def main() -> None:
    serve(build_worker())


if __name__ == "__main__":
    main()
