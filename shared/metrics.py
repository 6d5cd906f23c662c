"""Every Prometheus metric the services export, defined once.

Under gunicorn, several worker processes serve one API, so the API runs prometheus-client in
multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`, see services/gunicorn_conf.py). The Kafka worker
is one process and serves its own registry on WORKER_METRICS_PORT.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

from shared.config import Settings

_settings = Settings.from_env()
SERVICE = _settings.service_name

HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route template, method and status.",
    ["service", "route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS_APPENDED = Counter(
    "mentoring_events_appended_total", "Events stored in the service's event store.", []
)
EVENTS_PUBLISHED = Counter(
    "mentoring_events_published_total",
    "Events published to Kafka by the relay.",
    ["service", "topic", "event_type", "outcome"],
)
EVENTS_CONSUMED = Counter(
    "mentoring_events_consumed_total",
    "Records consumed, by what became of them.",
    ["service", "group", "topic", "event_type", "outcome"],
)
DEAD_LETTERS = Counter(
    "mentoring_dead_letters_total",
    "Records sent to a dead-letter topic.",
    ["service", "group", "topic", "reason"],
)
RELAY_BACKLOG = Gauge(
    "mentoring_relay_backlog",
    "Stored events not yet published (positions the relay has still to pass).",
    ["service"],
    multiprocess_mode="livemax",
)
CONSUMER_LAG = Gauge(
    "mentoring_consumer_lag",
    "End offset minus the consumer's position, per partition.",
    ["service", "group", "topic", "partition"],
    multiprocess_mode="livemax",
)
PROJECTION_STALENESS = Gauge(
    "mentoring_projection_staleness_seconds",
    "Now minus occurred_at of the last event a projection applied.",
    ["service", "group"],
    multiprocess_mode="livemax",
)
CONSUMER_PARTITION_PAUSED = Gauge(
    "mentoring_consumer_partition_paused",
    "1 while a partition (or a store projector) is stopped on a record it cannot apply yet.",
    ["service", "group", "topic", "partition", "reason"],
    multiprocess_mode="livemax",
)
PROJECTION_CHECKPOINT_LAG = Gauge(
    "mentoring_projection_checkpoint_lag",
    "Store positions a store projector has still to apply (current position + 1 - checkpoint).",
    ["service", "projector"],
    multiprocess_mode="livemax",
)
ERASURES_PENDING = Gauge(
    "mentoring_erasures_pending",
    "Erasures of a person (GDPR Art. 17) requested and not yet done by the service `waiting_on`.",
    ["waiting_on"],
    multiprocess_mode="livemax",
)
ERASURES_OVERDUE = Gauge(
    "mentoring_erasures_overdue",
    "Of those, the ones requested longer than ERASURE_OVERDUE_S ago (the contract: within a minute).",
    ["waiting_on"],
    multiprocess_mode="livemax",
)
PAIRINGS_ACTIVE = Gauge(
    "mentoring_pairings_active", "Active pairings per cohort.", ["cohort_id"], multiprocess_mode="livemostrecent"
)
PAIRS_AT_RISK = Gauge(
    "mentoring_pairs_at_risk", "Pairings at risk per cohort.", ["cohort_id"], multiprocess_mode="livemostrecent"
)
MATCHING_RUN_DURATION = Histogram(
    "mentoring_matching_run_duration_seconds",
    "Wall time of a matching run.",
    [],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60),
)
MATCHING_MATCHED_RATIO = Gauge(
    "mentoring_matching_matched_ratio",
    "Share of the run's mentees that got a proposal.",
    ["cohort_id"],
    multiprocess_mode="livemostrecent",
)
AUDIT_ENTRIES = Counter(
    "mentoring_audit_entries_total",
    "Audit-trail entries: privileged or refused requests, by action and whether the entry was written.",
    ["service", "action", "outcome"],
)
NOTIFICATION_DELIVERIES = Counter(
    "mentoring_notification_deliveries_total",
    "Notification deliveries by channel and outcome.",
    ["channel", "outcome"],
)


def render_latest() -> tuple[bytes, str]:
    """The exposition for this process, aggregating all processes in multiprocess mode."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY

    if _settings.prometheus_multiproc_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
