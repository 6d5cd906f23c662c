"""Every projection handles only event types that really travel where it reads (issue 11).

A handler keyed by a misspelt type, or by a type of another topic, is silently never called: the
consumer skips unknown types as the contract says. So for every service:
- a Kafka-fed projection (`context.projections()`) handles only types registered in the catalog of
  the topics it subscribes to (the producing service's catalog; the HRIS catalog for
  `hris.employees.v1`), and never reads its own service's topic (views of its own streams are fed
  from its event store, so a rebuild never depends on Kafka's retention);
- an own-stream projection (`context.own_projections()`) handles only its own service's types.
"""
from __future__ import annotations

import importlib

import pytest

from shared import topics
from shared.config import Settings
from shared.events.docs import types_on_topic

SERVICES = ("matching", "sessions", "feedback", "notifications")


def context_of(service: str):
    # pymongo connects lazily: building a context opens no connection, so no server is needed.
    settings = Settings(service_name=service, mongo_url="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200",
                        mongo_database="unused", kafka_bootstrap_servers="127.0.0.1:1",
                        jwt_secret="unit-test-secret-0123456789abcdef")
    return importlib.import_module(f"services.{service}.bootstrap").build(settings)


@pytest.mark.parametrize("service", SERVICES)
def test_kafka_fed_projections_handle_only_types_of_the_topics_they_read(service):
    context = context_of(service)
    projections = context.projections()
    assert projections, f"{service} has no Kafka-fed projection"
    for projection in projections:
        assert projection.topics, f"{service}:{projection.name} subscribes to no topic"
        assert set(projection.topics) <= set(topics.ALL), f"{service}:{projection.name}: {projection.topics}"
        assert topics.BY_PRODUCER[service] not in projection.topics, (
            f"{service}:{projection.name} reads its own topic from Kafka; own streams feed own_projections()")
        known = set().union(*(types_on_topic(t) for t in projection.topics))
        unknown = sorted(set(projection.handlers()) - known)
        assert not unknown, f"{service}:{projection.name} handles types not on {projection.topics}: {unknown}"


@pytest.mark.parametrize("service", SERVICES)
def test_own_stream_projections_handle_only_their_own_services_types(service):
    context = context_of(service)
    own = types_on_topic(topics.BY_PRODUCER[service])
    for projection in context.own_projections():
        handled = set(projection.handlers())
        assert handled, f"{service}:{projection.name} handles nothing"
        assert not handled - own, f"{service}:{projection.name} handles other services' types: {sorted(handled - own)}"
