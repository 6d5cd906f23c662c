"""Test infrastructure: real Kafka and a real MongoDB-compatible server, never fakes.

By default the suite uses the servers `scripts/devstack.py` runs (starting them if needed), or
the ones KAFKA_BOOTSTRAP_SERVERS / MONGO_URL name. With MENTORING_TEST_INFRA=testcontainers it
starts the official images with testcontainers instead (needs a Docker engine).

Each test gets its own MongoDB database and its own topic prefix, so tests sharing one broker
and one server cannot see each other's data.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# A secret of this test session's own (the services refuse any the repository has published), and
# the development mode that alone accepts HS256 tokens; set in the environment, so the services the
# e2e and browser tests start as processes, and `shared.cli dev-token`, get the same.
os.environ.setdefault("JWT_SECRET", secrets.token_urlsafe(32))
os.environ.setdefault("MENTORING_ENV", "development")
# The local broker authenticates every client (SASL/SCRAM with ACLs, shared/kafka_access.py).
from shared.config import act_as_local_kafka_admin  # noqa: E402 - after the repository root is on the path

act_as_local_kafka_admin()


def _start_with_testcontainers():
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    kafka = KafkaContainer("apache/kafka:4.1.1").with_kraft()
    mongo = MongoDbContainer("mongo:7")
    kafka.start()
    mongo.start()
    return kafka.get_bootstrap_server(), mongo.get_connection_url(), (kafka, mongo)


@pytest.fixture(scope="session")
def infra():
    """(mongo_url, kafka_bootstrap_servers) of running servers."""
    containers = ()
    if os.environ.get("MENTORING_TEST_INFRA") == "testcontainers":
        kafka, mongo, containers = _start_with_testcontainers()
        os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["MONGO_URL"] = kafka, mongo
    else:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "devstack.py"), "up"], check=True)
    yield (os.environ.get("MONGO_URL", "mongodb://127.0.0.1:27017/"),
           os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or f"127.0.0.1:{os.environ.get('DEVSTACK_KAFKA_PORT', 9092)}")
    for container in containers:
        container.stop()


@pytest.fixture
def make_settings(infra):
    """Settings for a service, isolated to this test (own database, own topic prefix)."""
    from shared.config import Settings
    from shared.kafka import ensure_topics

    mongo_url, kafka = infra
    run_id = uuid.uuid4().hex[:10]
    created = []

    def factory(service: str, **overrides):
        settings = Settings(
            service_name=service,
            mongo_url=mongo_url,
            mongo_database=f"t_{run_id}_{service}",
            kafka_bootstrap_servers=kafka,
            kafka_topic_prefix=f"t{run_id}.",
            jwt_secret=os.environ["JWT_SECRET"],
            environment="development",
            relay_poll_interval_s=0.02,
            relay_gap_timeout_s=1.0,
            relay_lease_ttl_s=3.0,
        )
        settings = replace(settings, **overrides)
        if not created:
            ensure_topics(settings)
        created.append(settings)
        return settings

    yield factory
    from shared.mongo import client_for
    from tests.helpers import delete_topics

    for settings in created:
        try:
            client_for(settings.mongo_url).drop_database(settings.database)
        except Exception:  # noqa: BLE001 - cleanup only
            pass
    if created:
        try:
            delete_topics(created[0])  # one topic prefix per test
        except Exception:  # noqa: BLE001 - cleanup only
            pass
