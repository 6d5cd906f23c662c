"""Who may do what on Kafka (issue 12, least privilege): one SCRAM-SHA-512 user per service, an
HRIS integration user and a read-only analytics user, each with ACLs for exactly what it does.

- A service writes its own topic (its relay, transactionally) and the dead-letter topics of the
  topics it consumes, reads the topics it consumes and its own (the relay reads its tail and keeps
  its cursor as a group offset there), and uses only consumer groups and transactional ids named
  after itself. It creates no topics: `python -m shared.cli migrate` does, as the Kafka admin.
- `hris` (the HR system's integration client) writes `hris.employees.v1` and nothing else.
- `analytics` (the BI export, contract §6) reads the `mentoring.*` topics and writes nothing.
- `admin` is the cluster's super user: topics, ACLs, redriving dead letters, the test suite.

Locally (`scripts/devstack.py`) the broker listens with SASL/SCRAM on loopback and these users
get development passwords from the environment (`KAFKA_<USER>_PASSWORD`, printed defaults); the
grants below are applied for the configured topic prefix. In Kubernetes the same users are
Strimzi `KafkaUser` resources with the same ACLs (deploy/k8s, generated from `grants`), over TLS.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from shared import topics
# The environment is read in shared/config.py only: the development passwords and the test suite's identity.
from shared.config import kafka_development_password

ADMIN = "admin"
HRIS = "hris"
ANALYTICS = "analytics"
SERVICE_USERS = ("matching", "sessions", "feedback", "notifications")
USERS = (ADMIN, *SERVICE_USERS, HRIS, ANALYTICS)

# The contract topics each service's consumer group reads (its projections' and policies' `topics`;
# tests/unit/test_kafka_access.py checks this table against the code).
CONSUMES: dict[str, tuple[str, ...]] = {
    "matching": (topics.HRIS_EMPLOYEES, topics.SESSIONS, topics.FEEDBACK, topics.NOTIFICATIONS),
    "sessions": (topics.HRIS_EMPLOYEES, topics.MATCHING),
    "feedback": (topics.HRIS_EMPLOYEES, topics.MATCHING, topics.SESSIONS),  # HRIS: mentors' managers (kudos)
    "notifications": (topics.HRIS_EMPLOYEES, topics.MATCHING, topics.SESSIONS, topics.FEEDBACK),
}
MENTORING_TOPICS = (topics.MATCHING, topics.SESSIONS, topics.FEEDBACK, topics.NOTIFICATIONS)


@dataclass(frozen=True)
class Grant:
    """One ACL: `user` may `operation` on the resource (`kind` topic/group/transactional_id) named
    `name`, literally or (`prefixed`) as a name prefix."""
    user: str
    operation: str  # READ, WRITE, DESCRIBE
    kind: str  # topic, group, transactional_id
    name: str
    prefixed: bool = False


def grants(prefix: str = "") -> list[Grant]:
    """Every ACL of every user but the super user, for topics and groups under `prefix`."""
    found: list[Grant] = []
    for service in SERVICE_USERS:
        own = prefix + topics.BY_PRODUCER[service]
        consumed = [prefix + t for t in CONSUMES[service]]
        found += [Grant(service, op, "topic", own) for op in ("WRITE", "READ", "DESCRIBE")]
        for topic in consumed:
            found += [Grant(service, "READ", "topic", topic), Grant(service, "DESCRIBE", "topic", topic),
                      Grant(service, "WRITE", "topic", topics.dlq(topic)),
                      Grant(service, "DESCRIBE", "topic", topics.dlq(topic))]
        # Its consumer groups (`<prefix><service>-worker`, the relay's cursor group) and its relay's
        # transactional id (`<prefix><service>-relay`) are all named after the service.
        found += [Grant(service, "READ", "group", f"{prefix}{service}-", prefixed=True),
                  Grant(service, "DESCRIBE", "group", f"{prefix}{service}-", prefixed=True),
                  Grant(service, "WRITE", "transactional_id", f"{prefix}{service}-", prefixed=True),
                  Grant(service, "DESCRIBE", "transactional_id", f"{prefix}{service}-", prefixed=True)]
    hris = prefix + topics.HRIS_EMPLOYEES
    found += [Grant(HRIS, "WRITE", "topic", hris), Grant(HRIS, "DESCRIBE", "topic", hris)]
    for topic in MENTORING_TOPICS:
        found += [Grant(ANALYTICS, "READ", "topic", prefix + topic), Grant(ANALYTICS, "DESCRIBE", "topic", prefix + topic)]
    found += [Grant(ANALYTICS, "READ", "group", f"{prefix}{ANALYTICS}", prefixed=True)]
    return found


def _wait_until_in_force(admin, wanted: list[Grant], timeout_s: float = 15.0) -> None:
    """ACLs apply once the broker has the metadata records: wait until it lists every one, so that
    whoever asked for them (a test, `make run`) is not refused by a grant still on its way."""
    from kafka.admin import (ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                             ResourcePatternFilter, ResourceType)

    everything = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                           permission_type=ACLPermissionType.ANY,
                           resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
    expected = {(f"User:{g.user}", g.operation, g.name) for g in wanted}
    deadline = time.monotonic() + timeout_s
    while True:
        acls, _error = admin.describe_acls(everything)
        present = {(acl.principal, acl.operation.name, acl.resource_pattern.resource_name) for acl in acls}
        if expected <= present:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(expected - present)} Kafka ACLs not in force after {timeout_s:.0f}s")
        time.sleep(0.2)


def ensure_users_and_acls(settings, prefix: str | None = None) -> None:
    """As the super user: every user's SCRAM credentials (from `kafka_development_password`) and its ACLs
    for `prefix` (the settings' topic prefix by default). Idempotent; for local brokers and tests."""
    from kafka import KafkaAdminClient
    from kafka.admin import (ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern,
                             ResourceType, ScramMechanism, UserScramCredentialUpsertion)

    from shared.kafka import connection_options

    prefix = settings.kafka_topic_prefix if prefix is None else prefix
    admin = KafkaAdminClient(**connection_options(settings), client_id="mentoring-access-admin")
    try:
        admin.alter_user_scram_credentials([
            UserScramCredentialUpsertion(user, ScramMechanism.SCRAM_SHA_512, kafka_development_password(user), iterations=4096)
            for user in USERS if user != ADMIN])
        kinds = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP,
                 "transactional_id": ResourceType.TRANSACTIONAL_ID}
        answer = admin.create_acls([
            ACL(principal=f"User:{grant.user}", host="*", operation=ACLOperation[grant.operation],
                permission_type=ACLPermissionType.ALLOW,
                resource_pattern=ResourcePattern(
                    kinds[grant.kind], grant.name,
                    ACLResourcePatternType.PREFIXED if grant.prefixed else ACLResourcePatternType.LITERAL))
            for grant in grants(prefix)])
        failed = answer.get("failed") if isinstance(answer, dict) else None
        if failed:
            raise RuntimeError(f"Kafka refused {len(failed)} ACLs, e.g. {failed[0]}")
        _wait_until_in_force(admin, grants(prefix))
    finally:
        admin.close()
