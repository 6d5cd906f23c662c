"""What the service benchmarks share: isolated settings, seeded pairings, latency statistics."""
from __future__ import annotations

import json
import os
import secrets
import statistics
import time
import uuid
from dataclasses import replace

from kafka import KafkaProducer

from shared import topics
from shared.clock import utcnow
from shared.config import Settings
from shared.events.envelope import new_event
from shared.kafka import ensure_topics, connection_options
from shared.mongo import client_for


def isolated_settings(service: str, run: str) -> Settings:
    # a secret of this run's own (the services refuse published ones), in the only mode taking HS256
    os.environ.setdefault("JWT_SECRET", secrets.token_urlsafe(32))
    os.environ.setdefault("MENTORING_ENV", "development")
    base = Settings.from_env(service)
    return replace(base, service_name=service, mongo_database=f"bench_{run}_{service}", kafka_topic_prefix=f"bench{run}.")


def new_run() -> str:
    return uuid.uuid4().hex[:8]


def drop(*settings: Settings) -> None:
    """Drop the run's databases and its topics (a broker keeping every run's topics stops starting)."""
    from tests.helpers import delete_topics

    for s in settings:
        client_for(s.mongo_url).drop_database(s.database)
    for prefix in {s.kafka_topic_prefix for s in settings}:
        delete_topics(next(s for s in settings if s.kafka_topic_prefix == prefix))


def seed_active_pairings(settings: Settings, count: int, cohort_id: str = "bench-cohort") -> list[dict]:
    """Publish, as the matching service would, a cohort and `count` active pairings."""
    ensure_topics(settings)
    producer = KafkaProducer(**connection_options(settings))
    topic = topics.resolve(topics.MATCHING, settings.kafka_topic_prefix)
    now = utcnow()

    def send(event):
        producer.send(topic, key=event.aggregate_id.encode(), value=event.to_json())

    send(new_event(event_type="CohortCreated", schema_version=1, producer="matching", aggregate_type="cohort",
                   aggregate_id=cohort_id, aggregate_version=1, correlation_id="bench", causation_id=None,
                   data={"cohort_id": cohort_id, "program_id": "bench-program", "name": "Bench", "starts_on": "2026-01-01",
                         "ends_on": "2027-12-31", "status": "active", "meeting_cadence_days": 14,
                         "answer_deadline_days": 7, "rules": {}, "created_by": "E000001"}))
    pairings = []
    for i in range(count):
        pairing = {"pairing_id": f"bench-p{i}", "cohort_id": cohort_id, "mentor_id": f"E{100000 + i}",
                   "mentee_id": f"E{200000 + i}"}
        send(new_event(event_type="PairingProposed", schema_version=1, producer="matching", aggregate_type="pairing",
                       aggregate_id=pairing["pairing_id"], aggregate_version=1, correlation_id="bench", causation_id=None,
                       data={**pairing, "score": 0.8, "reasons": ["bench"], "proposed_by": "algorithm",
                             "matching_run_id": None, "answer_by": "2030-01-01T00:00:00.000Z"}))
        send(new_event(event_type="PairingActivated", schema_version=1, producer="matching", aggregate_type="pairing",
                       aggregate_id=pairing["pairing_id"], aggregate_version=2, correlation_id="bench", causation_id=None,
                       data={**pairing, "activated_at": json.loads(json.dumps(now.strftime("%Y-%m-%dT%H:%M:%S.000Z")))}))
        pairings.append(pairing)
    producer.flush()
    producer.close()
    return pairings


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None, "n": 0}
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else [ordered[0]] * 99
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "n": len(ordered)}


def timed(call, repeat: int) -> tuple[list[float], object]:
    """`call()` `repeat` times: each call's milliseconds, and the last call's result."""
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, result


def report(rows: list[dict], row: dict) -> None:
    """Keep a row of a read benchmark and print it as it comes (floats to one decimal)."""
    rows.append(row)
    print({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}, flush=True)


def compare(rows: list[dict], what: str, before, after, *, repeat: int, after_repeat: int) -> None:
    """A read before (a scan) and after (keyed) in the same run: both must return the same (else the
    bench is broken, not slow); reports their p50s, the keyed p95 and the ratio."""
    before_ms, old = timed(before, repeat)
    after_ms, new = timed(after, after_repeat)
    assert old == new, f"{what}: the keyed read differs from the scan"
    b, a = percentiles(before_ms), percentiles(after_ms)
    report(rows, {"what": what, "items": len(new) if hasattr(new, "__len__") else None,
                  "before_p50_ms": b["p50"], "after_p50_ms": a["p50"], "after_p95_ms": a["p95"],
                  "ratio": b["p50"] / a["p50"] if a["p50"] else None})
