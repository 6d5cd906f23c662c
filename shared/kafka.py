"""Kafka clients configured once: an idempotent, acks=all producer; topic creation.

Never pin `api_version`: Kafka 4 rejects the old requests a pinned client sends.
"""
from __future__ import annotations

import logging
import time

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from shared import topics
from shared.config import Settings

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 3


def make_producer(settings: Settings, **overrides) -> KafkaProducer:
    config = dict(
        bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
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
    """Create the contract's topics and their dead-letter topics (idempotent)."""
    wanted = list(names) if names is not None else [n for t in topics.ALL for n in (t, topics.dlq(t))]
    physical = [topics.resolve(name, settings.kafka_topic_prefix) for name in wanted]
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
                client_id=f"{settings.service_name}-admin",
            )
            try:
                existing = set(admin.list_topics())
                missing = [n for n in physical if n not in existing]
                if missing:
                    try:
                        admin.create_topics(
                            [NewTopic(name=n, num_partitions=partitions, replication_factor=1) for n in missing]
                        )
                    except TopicAlreadyExistsError:
                        pass
                return
            finally:
                admin.close()
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("waiting for Kafka to create topics: %s", exc)
            time.sleep(1)


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
