"""The Kafka ACL table (shared/kafka_access.py) against what the services really do, and the
rules it must keep: no user but the admin may write another service's topic or the HRIS stream."""
from __future__ import annotations

import importlib

import pytest

from shared import kafka_access, topics
from shared.config import Settings


@pytest.mark.parametrize("service", kafka_access.SERVICE_USERS)
def test_each_service_may_read_exactly_the_topics_its_consumer_subscribes_to(service):
    bootstrap = importlib.import_module(f"services.{service}.bootstrap")
    # pymongo connects lazily: building the wiring reads nothing from this unreachable address
    context = bootstrap.build(Settings(service_name=service, mongo_url="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100",
                                       jwt_secret="unit-test-secret-" + "x" * 32, environment="development"))
    subscribed = {topic for projection in context.projections() for topic in projection.topics}
    assert set(kafka_access.CONSUMES[service]) == subscribed


def test_writes_are_each_services_own_topic_and_the_dead_letters_of_what_it_reads():
    for grant in kafka_access.grants("p."):
        if grant.operation != "WRITE" or grant.kind != "topic":
            continue
        if grant.user == kafka_access.HRIS:
            assert grant.name == "p." + topics.HRIS_EMPLOYEES
            continue
        assert grant.user in kafka_access.SERVICE_USERS, grant
        own = "p." + topics.BY_PRODUCER[grant.user]
        dead_letters = {"p." + topics.dlq(t) for t in kafka_access.CONSUMES[grant.user]}
        assert grant.name == own or grant.name in dead_letters, grant


def test_analytics_only_reads_and_every_name_carries_the_prefix():
    granted = kafka_access.grants("p.")
    assert {g.operation for g in granted if g.user == kafka_access.ANALYTICS} == {"READ", "DESCRIBE"}
    assert all(g.name.startswith("p.") for g in granted)
    assert not [g for g in granted if g.user == kafka_access.ADMIN]  # the super user needs no grant
