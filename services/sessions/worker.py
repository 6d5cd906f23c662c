"""The sessions worker: consumes HRIS and matching events into its projections and policies
(cancelling the meetings of ended pairings), projects its own event store (meetings, engagement),
relays its own events, and runs the cadence/risk check."""
from __future__ import annotations

from shared.config import Settings
from shared.consumer import ConsumerRunner
from shared.worker import PeriodicJob, Worker, consumer_for, serve, service_worker
from services.sessions import bootstrap


def build_consumer(settings: Settings | None = None, producer=None, context=None) -> ConsumerRunner:
    """The consumer group's runner; also what `python -m shared.cli rebuild sessions` replays with."""
    context = context or bootstrap.build(settings)
    return consumer_for(context, group_id=bootstrap.CONSUMER_GROUP, registry=bootstrap.registry(), producer=producer)


def risk_check_job(context) -> PeriodicJob:
    return PeriodicJob(name="risk-check", interval_s=bootstrap.RISK_CHECK_INTERVAL_S, run=lambda: context.risk.run())


def availability_retention_job(context) -> PeriodicJob:
    return PeriodicJob(name="availability-retention", interval_s=context.settings.retention_interval_s,
                       run=lambda: context.availability_retention.run())


def retention_job(context) -> PeriodicJob:
    return PeriodicJob(name="retention", interval_s=context.settings.retention_interval_s,
                       run=lambda: context.retention.run())


def build_worker(settings: Settings | None = None) -> Worker:
    context = bootstrap.build(settings)
    return service_worker(context, build_consumer, jobs=[risk_check_job(context), retention_job(context),
                                                         availability_retention_job(context)])


def main() -> None:
    serve(build_worker())


if __name__ == "__main__":
    main()
