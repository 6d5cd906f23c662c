"""Every setting the services read, in one place (the README lists the same table).

Settings come from the environment only, so `make run`, CI, a container and a test can each
point the same code at different servers without editing anything.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    service_name: str
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    # Database name defaults to "mentoring_<service>": each service owns its own database.
    mongo_database: str = ""
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Prepended to every topic name; empty in production. Tests use it to isolate runs
    # on one shared broker without changing the contract's topic names.
    kafka_topic_prefix: str = ""
    # This process's Kafka identity (shared/kafka_access.py says what each user may do). Read from
    # the environment even when a Settings is built directly (tests): one identity per process.
    # KAFKA_SECURITY_PROTOCOL: PLAINTEXT (no user), SASL_PLAINTEXT (the local broker), SASL_SSL
    # (Kubernetes: TLS with the cluster CA in KAFKA_SSL_CAFILE); SCRAM-SHA-512 when a user is set.
    kafka_sasl_username: str | None = field(default_factory=lambda: os.environ.get("KAFKA_SASL_USERNAME") or None)
    kafka_sasl_password: str | None = field(default_factory=lambda: os.environ.get("KAFKA_SASL_PASSWORD") or None)
    kafka_security_protocol: str = field(default_factory=lambda: os.environ.get("KAFKA_SECURITY_PROTOCOL") or (
        "SASL_PLAINTEXT" if os.environ.get("KAFKA_SASL_USERNAME") else "PLAINTEXT"))
    kafka_ssl_cafile: str | None = field(default_factory=lambda: os.environ.get("KAFKA_SSL_CAFILE") or None)
    jwt_secret: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # Token checks (shared/http/auth.py): clock skew allowed on `exp`/`nbf`/`iat`; the longest a
    # token may live (`exp - iat`: Keycloak's access tokens live 5 minutes, dev tokens up to this);
    # how long fetched JWKS keys are trusted before the set is fetched again (a key the IdP removed
    # stops working within this); and the least time between two fetches an unknown `kid` causes.
    jwt_leeway_s: float = 30.0
    jwt_max_lifetime_s: float = 12 * 3600.0
    jwt_jwks_ttl_s: float = 300.0
    jwt_jwks_min_refetch_s: float = 30.0
    log_level: str = "INFO"
    relay_poll_interval_s: float = 0.05
    relay_gap_timeout_s: float = 5.0
    relay_lease_ttl_s: float = 10.0
    # Largest event (its JSON as the relay sends it) the event store accepts: under Kafka's 1 MiB
    # `message.max.bytes`, with room for key, headers and batch overhead.
    max_event_bytes: int = 1_000_000
    consumer_max_poll_records: int = 200
    # How often a store projector looks for new commits (read-your-writes waits on it).
    projector_poll_interval_s: float = 0.02
    # How long a request waits for the views to include its own write (read-your-writes) before
    # answering anyway; 0 answers at once (the answer itself never needs the view).
    read_your_writes_timeout_s: float = 2.0
    worker_metrics_port: int = 0
    smtp_url: str | None = None
    # gunicorn (services/gunicorn_conf.py): processes and threads per API, and the folder
    # prometheus-client shares between those processes (set per API by `make run`).
    web_concurrency: int = 2
    gunicorn_threads: int = 4
    prometheus_multiproc_dir: str | None = None
    # notifications: where links in messages point, how unsubscribe links are signed, retries.
    notifications_app_url: str = "http://localhost:8080"
    notifications_public_url: str = "http://localhost:8004"
    # HMAC key of unsubscribe links (required when JWT_SECRET is unset; None: a key derived from it),
    # how long a link works, and the chat webhooks' total deadline per post.
    notifications_link_secret: str | None = None
    notifications_link_ttl_days: float = 30.0
    notifications_webhook_deadline_s: float = 5.0
    # feedback: the key of the pseudonyms naming respondents in review and survey events (issue 13).
    feedback_pseudonym_secret: str | None = None  # None: JWT_SECRET keys them
    notifications_retry_base_s: float = 30.0
    notifications_max_attempts: int = 6
    notifications_max_event_age_h: float = 72.0
    # matching: how long a request waits for the views to include its append (read-your-writes),
    # and how often the worker looks for requested matching runs.
    matching_wait_timeout_s: float = 5.0
    matching_run_poll_s: float = 0.2
    # matching: an erasure still pending in a service this long after the request counts as overdue
    # (the contract: within a minute), and how often the worker's watch looks (metrics and alert).
    erasure_overdue_s: float = 60.0
    erasure_watch_interval_s: float = 15.0
    # notifications senders: threads per worker, how long a claim on a delivery lasts (another
    # replica may retry it only after that), how often the queue is swept, deliveries per batch.
    notifications_sender_threads: int = 4
    notifications_claim_ttl_s: float = 60.0
    notifications_sweep_interval_s: float = 10.0
    notifications_send_batch: int = 50
    # emails a sender thread may send before their "sent" marks are stored: a crash sends at most
    # this many again per thread (same Message-ID). 1 keeps "a crash duplicates at most one email per
    # thread"; 8 measured ~25 % more emails/s (README, notifications figures)
    notifications_unmarked_sends: int = 1
    # Retention (README "Privacy"): meeting notes, agendas, feedback comments and kudos notes are
    # forgotten this many days after their pairing ends; notifications' inbox items and delivery logs
    # (with expired delivery claims) after theirs; how often each worker's retention job runs.
    retention_private_text_days: float = 365.0
    # A person's weekly availability (sessions) is forgotten this many days after it was last set or
    # their last pairing stopped (its retention clock, shared/retention.py), whichever is later,
    # while no pairing of theirs is going on.
    retention_availability_days: float = 180.0
    retention_inbox_days: float = 180.0
    retention_delivery_log_days: float = 90.0
    retention_interval_s: float = 3600.0
    retention_dead_letter_days: float = 30.0  # Kafka `retention.ms` of the *.dlq topics (shared/kafka.py)
    # Audit trail entries (shared/http/audit.py) are purged this long after they were written. 400
    # days: a year of evidence for a yearly audit (SOC 2 Type II observes 12 months, ISO 27001 audits
    # yearly) plus a quarter's margin for the audit to take place after the year it looks at; and
    # no longer, since each entry names a person and what they looked at (GDPR storage limitation).
    audit_retention_days: float = 400.0
    # "development" (`make run`, the tests) is the only mode that accepts HS256 tokens signed with
    # JWT_SECRET (beside the IdP's RS256 ones when a JWKS is configured), and lets the portal's
    # session cookie go over plain http; anything else is production.
    environment: str = "production"
    # Where the identity is in an IdP's token: the claim holding the employee id, and the one
    # (a dotted path for nested claims, e.g. realm_access.roles) holding the list of roles.
    jwt_subject_claim: str = "sub"
    jwt_roles_claim: str = "roles"
    # The portal (services/portal): its OpenID Connect client and the four APIs it calls.
    oidc_issuer: str | None = None
    oidc_client_id: str = "mentoring-portal"
    oidc_client_secret: str | None = None
    portal_secret_key: str | None = None
    service_urls: dict = field(default_factory=dict)
    # `python -m shared.cli export-person`: the bearer token it calls the four APIs with (an admin's,
    # or the person's own); unset in development: minted for the person with JWT_SECRET.
    mentoring_token: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def development(self) -> bool:
        return self.environment == "development"

    @property
    def database(self) -> str:
        return self.mongo_database or f"mentoring_{self.service_name}"

    @classmethod
    def from_env(cls, service_name: str | None = None) -> "Settings":
        env = os.environ
        name = service_name or env.get("SERVICE_NAME", "service")
        return cls(
            service_name=name,
            mongo_url=env.get("MONGO_URL", cls.mongo_url),
            mongo_database=env.get("MONGO_DATABASE", ""),
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", cls.kafka_bootstrap_servers),
            kafka_topic_prefix=env.get("KAFKA_TOPIC_PREFIX", ""),
            jwt_secret=env.get("JWT_SECRET") or None,
            jwt_jwks_url=env.get("JWT_JWKS_URL") or None,
            jwt_issuer=env.get("JWT_ISSUER") or None,
            jwt_audience=env.get("JWT_AUDIENCE") or None,
            jwt_leeway_s=_float("JWT_LEEWAY_S", cls.jwt_leeway_s),
            jwt_max_lifetime_s=_float("JWT_MAX_LIFETIME_S", cls.jwt_max_lifetime_s),
            jwt_jwks_ttl_s=_float("JWT_JWKS_TTL_S", cls.jwt_jwks_ttl_s),
            jwt_jwks_min_refetch_s=_float("JWT_JWKS_MIN_REFETCH_S", cls.jwt_jwks_min_refetch_s),
            log_level=env.get("LOG_LEVEL", "INFO"),
            relay_poll_interval_s=_float("RELAY_POLL_INTERVAL_S", cls.relay_poll_interval_s),
            relay_gap_timeout_s=_float("RELAY_GAP_TIMEOUT_S", cls.relay_gap_timeout_s),
            relay_lease_ttl_s=_float("RELAY_LEASE_TTL_S", cls.relay_lease_ttl_s),
            max_event_bytes=_int("MAX_EVENT_BYTES", cls.max_event_bytes),
            consumer_max_poll_records=_int("CONSUMER_MAX_POLL_RECORDS", cls.consumer_max_poll_records),
            projector_poll_interval_s=_float("PROJECTOR_POLL_INTERVAL_S", cls.projector_poll_interval_s),
            read_your_writes_timeout_s=_float("READ_YOUR_WRITES_TIMEOUT_S", cls.read_your_writes_timeout_s),
            worker_metrics_port=_int("WORKER_METRICS_PORT", 0),
            smtp_url=env.get("SMTP_URL") or None,
            web_concurrency=_int("WEB_CONCURRENCY", cls.web_concurrency),
            gunicorn_threads=_int("GUNICORN_THREADS", cls.gunicorn_threads),
            prometheus_multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            notifications_app_url=env.get("NOTIFICATIONS_APP_URL") or cls.notifications_app_url,
            notifications_public_url=env.get("NOTIFICATIONS_PUBLIC_URL") or cls.notifications_public_url,
            notifications_link_secret=env.get("NOTIFICATIONS_LINK_SECRET") or None,
            notifications_link_ttl_days=_float("NOTIFICATIONS_LINK_TTL_DAYS", cls.notifications_link_ttl_days),
            notifications_webhook_deadline_s=_float("NOTIFICATIONS_WEBHOOK_DEADLINE_S",
                                                    cls.notifications_webhook_deadline_s),
            feedback_pseudonym_secret=env.get("FEEDBACK_PSEUDONYM_SECRET") or None,
            notifications_retry_base_s=_float("NOTIFICATIONS_RETRY_BASE_S", cls.notifications_retry_base_s),
            notifications_max_attempts=_int("NOTIFICATIONS_MAX_ATTEMPTS", cls.notifications_max_attempts),
            notifications_max_event_age_h=_float("NOTIFICATIONS_MAX_EVENT_AGE_H", cls.notifications_max_event_age_h),
            matching_wait_timeout_s=_float("MATCHING_WAIT_TIMEOUT_S", cls.matching_wait_timeout_s),
            matching_run_poll_s=_float("MATCHING_RUN_POLL_S", cls.matching_run_poll_s),
            erasure_overdue_s=_float("ERASURE_OVERDUE_S", cls.erasure_overdue_s),
            erasure_watch_interval_s=_float("ERASURE_WATCH_INTERVAL_S", cls.erasure_watch_interval_s),
            notifications_sender_threads=_int("NOTIFICATIONS_SENDER_THREADS", cls.notifications_sender_threads),
            notifications_claim_ttl_s=_float("NOTIFICATIONS_CLAIM_TTL_S", cls.notifications_claim_ttl_s),
            notifications_sweep_interval_s=_float("NOTIFICATIONS_SWEEP_INTERVAL_S", cls.notifications_sweep_interval_s),
            notifications_send_batch=_int("NOTIFICATIONS_SEND_BATCH", cls.notifications_send_batch),
            notifications_unmarked_sends=_int("NOTIFICATIONS_UNMARKED_SENDS", cls.notifications_unmarked_sends),
            retention_private_text_days=_float("RETENTION_PRIVATE_TEXT_DAYS", cls.retention_private_text_days),
            retention_availability_days=_float("RETENTION_AVAILABILITY_DAYS", cls.retention_availability_days),
            retention_inbox_days=_float("RETENTION_INBOX_DAYS", cls.retention_inbox_days),
            retention_delivery_log_days=_float("RETENTION_DELIVERY_LOG_DAYS", cls.retention_delivery_log_days),
            retention_dead_letter_days=_float("RETENTION_DEAD_LETTER_DAYS", cls.retention_dead_letter_days),
            retention_interval_s=_float("RETENTION_INTERVAL_S", cls.retention_interval_s),
            audit_retention_days=_float("AUDIT_RETENTION_DAYS", cls.audit_retention_days),
            environment=env.get("MENTORING_ENV", cls.environment),
            jwt_subject_claim=env.get("JWT_SUBJECT_CLAIM") or cls.jwt_subject_claim,
            jwt_roles_claim=env.get("JWT_ROLES_CLAIM") or cls.jwt_roles_claim,
            oidc_issuer=env.get("PORTAL_OIDC_ISSUER") or env.get("JWT_ISSUER") or None,
            oidc_client_id=env.get("PORTAL_OIDC_CLIENT_ID") or cls.oidc_client_id,
            oidc_client_secret=env.get("PORTAL_OIDC_CLIENT_SECRET") or None,
            portal_secret_key=env.get("PORTAL_SECRET_KEY") or None,
            mentoring_token=env.get("MENTORING_TOKEN") or None,
            service_urls={name: env.get(f"{name.upper()}_URL") or f"http://127.0.0.1:{port}"
                          for name, port in (("matching", 8001), ("sessions", 8002), ("feedback", 8003),
                                             ("notifications", 8004))},
        )


def kafka_development_password(user: str) -> str:
    """The local broker's password of a Kafka user of shared/kafka_access.py: `KAFKA_<USER>_PASSWORD`,
    else a printed development default (the local broker listens on loopback only; production
    passwords come from Strimzi's per-user Secrets)."""
    return os.environ.get(f"KAFKA_{user.upper()}_PASSWORD") or f"{user}-local-dev"


def act_as_local_kafka_admin() -> None:
    """For the test suite and the benchmarks on the project's own broker: unless the environment
    names another Kafka or identity, this process (and what it starts) is the local super user.
    Tests isolate themselves by topic prefix; tests/integration/backbone/test_kafka_access.py takes
    the other users' identities to show what they may not do."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("MENTORING_TEST_INFRA") == "testcontainers":
        return
    os.environ.setdefault("KAFKA_SASL_USERNAME", "admin")
    os.environ.setdefault("KAFKA_SASL_PASSWORD", kafka_development_password("admin"))
