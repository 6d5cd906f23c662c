"""Kafka clients configured once: an idempotent, acks=all producer; topic creation.

Never pin `api_version`: Kafka 4 rejects the old requests a pinned client sends.

Event topics keep their history forever (`retention.ms=-1`): a projection rebuild replays them
from offset 0, and a topic that had dropped old records would silently give partial read
models. Dead-letter topics keep `retention_dead_letter_days` (30 by default). `ensure_topics`
creates topics with that retention and corrects the retention of existing topics (older deployments created them with the default).
"""
from __future__ import annotations

import logging
import time

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import (ClusterAuthorizationFailedError, KafkaError, TopicAlreadyExistsError,
                          TopicAuthorizationFailedError)

from shared import topics
from shared.config import Settings

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 3
NOT_ALLOWED = (TopicAuthorizationFailedError, ClusterAuthorizationFailedError)
EVENT_TOPIC_RETENTION_MS = -1
DLQ_RETENTION_MS = 30 * 24 * 3600 * 1000


def retention_ms(contract_topic: str, dlq_days: float = DLQ_RETENTION_MS / 86_400_000) -> int:
    """How long a topic keeps records: forever for event topics, `dlq_days` (30) for dead letters."""
    return int(dlq_days * 86_400_000) if contract_topic.endswith(".dlq") else EVENT_TOPIC_RETENTION_MS


def connection_options(settings: Settings) -> dict:
    """Where Kafka is and who this process is there: every KafkaProducer, KafkaConsumer and
    KafkaAdminClient of the project is built with these (shared/kafka_access.py: the users)."""
    options: dict = {"bootstrap_servers": settings.kafka_bootstrap_servers.split(","),
                     "security_protocol": settings.kafka_security_protocol}
    if settings.kafka_sasl_username:
        if settings.kafka_security_protocol == "SASL_PLAINTEXT":
            # The project's own broker on loopback (scripts/devstack.py): kafka-python would warn on
            # every connection that SCRAM runs without TLS. Deployments use SASL_SSL and still warn.
            logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)
        options.update(sasl_mechanism="SCRAM-SHA-512", sasl_plain_username=settings.kafka_sasl_username,
                       sasl_plain_password=settings.kafka_sasl_password or "")
    if settings.kafka_ssl_cafile:
        options["ssl_cafile"] = settings.kafka_ssl_cafile
    return options


def make_producer(settings: Settings, **overrides) -> KafkaProducer:
    config = dict(
        **connection_options(settings),
        acks="all",
        enable_idempotence=True,
        retries=2**31 - 1,
        # Give up on a record after 60 s so a long Kafka outage surfaces as an error the relay
        # retries (without moving its cursor) instead of an ever-growing send buffer.
        delivery_timeout_ms=60000,
        max_in_flight_requests_per_connection=5,
        linger_ms=5,
        request_timeout_ms=15000,
        client_id=f"{settings.service_name}-producer",
    )
    config.update(overrides)
    return KafkaProducer(**config)


def ensure_topics(settings: Settings, names=None, *, partitions: int = DEFAULT_PARTITIONS, timeout_s: float = 60) -> None:
    """Create the contract's topics and their dead-letter topics with their retention (idempotent)."""
    wanted = list(names) if names is not None else [n for t in topics.ALL for n in (t, topics.dlq(t))]
    retention = {topics.resolve(name, settings.kafka_topic_prefix): retention_ms(name, settings.retention_dead_letter_days)
                 for name in wanted}
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(**connection_options(settings), client_id=f"{settings.service_name}-admin")
            try:
                existing = set(admin.list_topics())
                missing = [n for n in retention if n not in existing]
                if missing:
                    try:
                        admin.create_topics([
                            NewTopic(name=n, num_partitions=partitions, replication_factor=1,
                                     topic_configs={"retention.ms": str(retention[n])})
                            for n in missing
                        ])
                    except TopicAlreadyExistsError:
                        pass
                    except NOT_ALLOWED as exc:
                        # A service user (least privilege) may not create topics; migrate, running as the
                        # Kafka admin, or Strimzi's KafkaTopics did (a topic this user may not even see
                        # looks missing here). What it needs and lacks, its clients will name.
                        log.info("not allowed to create topics as %s (%s): they are the admin's to create",
                                 settings.kafka_sasl_username, type(exc).__name__)
                        return
                _fix_retention(admin, {n: ms for n, ms in retention.items() if n in existing})
                return
            finally:
                admin.close()
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("waiting for Kafka to create topics: %s", exc)
            time.sleep(1)


def topic_retention_ms(admin: KafkaAdminClient, names) -> dict[str, int | None]:
    """retention.ms of each topic as the broker reports it (None when not reported)."""
    names = list(names)
    if not names:
        return {}
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, n, {"retention.ms": None}) for n in names], config_filter="all")
    found: dict[str, int | None] = {n: None for n in names}
    for by_name in described.values():
        for name, configs in by_name.items():
            entry = configs.get("retention.ms") if isinstance(configs, dict) else None
            value = entry.get("value") if isinstance(entry, dict) else entry
            if value not in (None, ""):
                found[name] = int(value)
    return found


def _fix_retention(admin: KafkaAdminClient, wanted: dict[str, int]) -> None:
    """Set retention.ms on existing topics that differ (best effort: a failure only logs)."""
    if not wanted:
        return
    try:
        current = topic_retention_ms(admin, wanted)
        wrong = [n for n, ms in wanted.items() if current.get(n) is not None and current[n] != ms]
        if wrong:
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, n, {"retention.ms": str(wanted[n])})
                                 for n in wrong])
            log.info("set retention.ms on %s", ", ".join(wrong))
    except Exception as exc:  # noqa: BLE001 - never block start-up on a config check
        log.warning("could not check or fix topic retention: %s", exc)


def kafka_reachable(settings: Settings, timeout_s: float = 2.0) -> bool:
    import socket

    for server in settings.kafka_bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
                return True
        except OSError:
            continue
    return False
