"""Least privilege on Kafka (issue 12): each user of shared/kafka_access.py can do its job on the
project's own SASL/SCRAM broker and is refused the rest — a service cannot forge another service's
events, the HRIS client cannot read what people said, analytics cannot write."""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import replace

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import (GroupAuthorizationFailedError, KafkaTimeoutError, SaslAuthenticationFailedError,
                          TopicAuthorizationFailedError)

from shared import kafka_access, topics
from shared.config import kafka_development_password
from shared.kafka import connection_options, make_producer

pytestmark = pytest.mark.integration



@pytest.fixture
def admin_settings(make_settings):
    settings = make_settings("matching")
    if settings.kafka_sasl_username != kafka_access.ADMIN:
        pytest.fail("the suite runs against the project's SASL broker as its admin (tests/conftest.py); "
                    f"this run is {settings.kafka_sasl_username!r} at {settings.kafka_bootstrap_servers}")
    kafka_access.ensure_users_and_acls(settings)  # the grants, for this test's topic prefix
    return settings


def as_user(settings, user: str, password: str | None = None):
    return replace(settings, service_name=user, kafka_sasl_username=user,
                   kafka_sasl_password=password if password is not None else kafka_development_password(user))


def produce(settings, contract_topic: str, **overrides) -> None:
    producer = make_producer(settings, **{"max_block_ms": 8000, "delivery_timeout_ms": 10000,
                                          "request_timeout_ms": 8000, **overrides})
    try:
        name = topics.resolve(contract_topic, settings.kafka_topic_prefix)
        producer.send(name, key=b"k", value=json.dumps({"probe": str(uuid.uuid4())}).encode()).get(timeout=10)
    finally:
        producer.close(timeout=5)


class NothingFetched(Exception):
    """A consumer got no record where the admin had put one: its fetches were refused."""


def read_one(settings, contract_topic: str, group: str | None = None) -> None:
    """Fetch the probe record the admin put in partition 0 of the topic (in consumer group `group`
    if given); raises if the user may not see the topic, use the group, or fetch from it."""
    name = topics.resolve(contract_topic, settings.kafka_topic_prefix)
    partition = TopicPartition(name, 0)
    consumer = KafkaConsumer(**connection_options(settings), group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    try:
        consumer.end_offsets([partition])  # TopicAuthorizationFailedError without DESCRIBE
        consumer.assign([partition])
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            if consumer.poll(timeout_ms=500):
                if group is not None:
                    consumer.commit()  # GroupAuthorizationFailedError outside the user's groups
                return
        raise NothingFetched(name)
    finally:
        consumer.close()


REFUSED = (TopicAuthorizationFailedError, GroupAuthorizationFailedError, KafkaTimeoutError, NothingFetched)


def refused(action, *args, **kwargs) -> None:
    """`action` fails because the broker does not authorise it (a user with no topic to write gets
    ClusterAuthorizationFailed for its producer id, which kafka-python wraps in a KafkaError)."""
    with pytest.raises(Exception) as caught:
        action(*args, **kwargs)
    assert isinstance(caught.value, REFUSED) or "AuthorizationFailed" in str(caught.value), repr(caught.value)


@pytest.fixture(autouse=True)
def probes(admin_settings):
    """One record in partition 0 of every topic, put there by the admin."""
    producer = make_producer(admin_settings)
    for topic in topics.ALL:
        producer.send(topics.resolve(topic, admin_settings.kafka_topic_prefix), key=b"probe", value=b"{}", partition=0)
    producer.flush(timeout=20)
    producer.close()


def test_a_service_writes_its_own_topic_and_cannot_forge_another_services_events(admin_settings):
    sessions = as_user(admin_settings, "sessions")
    produce(sessions, topics.SESSIONS)
    refused(produce, sessions, topics.MATCHING)  # e.g. a forged PairingActivated


def test_a_service_reads_what_it_consumes_in_its_own_groups_only(admin_settings):
    feedback = as_user(admin_settings, "feedback")
    read_one(feedback, topics.SESSIONS, group=f"{admin_settings.kafka_topic_prefix}feedback-worker")
    read_one(feedback, topics.HRIS_EMPLOYEES, group=f"{admin_settings.kafka_topic_prefix}feedback-worker")  # managers (kudos)
    refused(read_one, feedback, topics.NOTIFICATIONS)  # feedback never consumes delivery outcomes
    refused(read_one, feedback, topics.SESSIONS, group=f"{admin_settings.kafka_topic_prefix}sessions-worker")


def test_the_hris_client_writes_employees_and_reads_nothing(admin_settings):
    hris = as_user(admin_settings, kafka_access.HRIS)
    produce(hris, topics.HRIS_EMPLOYEES)
    refused(read_one, hris, topics.FEEDBACK)
    refused(produce, hris, topics.MATCHING)  # e.g. a forged EmployeeTerminated elsewhere


def test_analytics_reads_the_mentoring_topics_and_writes_nothing(admin_settings):
    analytics = as_user(admin_settings, kafka_access.ANALYTICS)
    for topic in kafka_access.MENTORING_TOPICS:
        read_one(analytics, topic)
    refused(read_one, analytics, topics.HRIS_EMPLOYEES)
    refused(produce, analytics, topics.FEEDBACK)


def test_a_wrong_password_is_refused(admin_settings):
    with pytest.raises((SaslAuthenticationFailedError, KafkaTimeoutError)):
        # refused at the handshake, which the client retries until it gives up bootstrapping (30 s by default)
        produce(as_user(admin_settings, "sessions", password="not-" + os.urandom(4).hex()), topics.SESSIONS,
                bootstrap_timeout_ms=3000)
