"""The notifications worker: consumes every mentoring topic and the HRIS, sends, relays outcomes.

The consumer only enqueues deliveries (application/delivery.py); sending happens on other threads:
`notifications-sender-<n>` (`notifications_sender_threads` of them: claim and send, fed by
hand-off from the consumer), `notifications-bookkeeper` (records what they sent, several batches
in one set of bulk writes; outcomes not yet written when the worker stops are recorded by the next
claimant once the claims expire, from the sent marks, without a second email),
`notifications-sweep` (due retries, quiet-hours deferrals, digests,
and what a crashed replica left), and `notifications-reminders` (24 hours before each meeting).
Any number of replicas may run: claims make each delivery go out once.
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
    senders = context.senders
    # A sender turn blocks up to half a second waiting for work, so interval 0 is a loop, not a spin.
    return [
        *(PeriodicJob(f"notifications-sender-{index}", 0.0, senders.work_once) for index in range(senders.threads)),
        PeriodicJob("notifications-bookkeeper", 0.0, senders.bookkeep_once),
        PeriodicJob("notifications-sweep", senders.sweep_interval_s, senders.sweep),
        PeriodicJob("notifications-reminders", 60.0, context.reminders.send_due),
        PeriodicJob("notifications-retention", context.settings.retention_interval_s, context.retention.run),
    ]


def build_worker(settings: Settings | None = None) -> Worker:
    context = bootstrap.build(settings)
    return service_worker(context, build_consumer, jobs=jobs(context))


def main() -> None:
    serve(build_worker())


if __name__ == "__main__":
    main()
