"""End to end: a `MeetingHeld` command accepted by the sessions API to its effect visible in the
feedback service's projection, at a fixed offered rate (`BENCH_E2E_RATE`, default 50 commands/s: issue
16's p99 <= 250 ms is at that rate) for `BENCH_E2E_SECONDS` (20); beside the raw Kafka
produce-to-consume latency at the same rate (the floor any event-driven path pays)."""
from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.harness import drop, isolated_settings, new_run, percentiles, seed_active_pairings
from shared import topics
from shared.http.auth import mint_token
from shared.generations import live_database
from shared.mongo import database_for
from tests.e2e.processes import service_env, start_api, start_worker
from shared.kafka import connection_options

RATE_PER_S = int(os.environ.get("BENCH_E2E_RATE", "50"))
SECONDS = int(os.environ.get("BENCH_E2E_SECONDS", "20"))
PAIRINGS = 20
CLIENTS = 16  # connections the offered load is spread over (an open loop: a slow answer delays no other)


def _raw_kafka_latency(settings, count: int) -> list[float]:
    topic = topics.resolve(topics.NOTIFICATIONS + ".dlq", settings.kafka_topic_prefix)  # an idle topic of this run
    consumer = KafkaConsumer(**connection_options(settings), group_id=None,
                             enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for tp in partitions:
        consumer.position(tp)
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    done = threading.Event()

    def consume():
        while not done.is_set() and len(latencies) < count:
            for batch in consumer.poll(timeout_ms=100).values():
                for record in batch:
                    latencies.append(time.perf_counter() - sent[record.value])

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    producer = KafkaProducer(**connection_options(settings), acks="all", linger_ms=0)
    for _ in range(count):
        value = uuid.uuid4().bytes
        sent[value] = time.perf_counter()
        producer.send(topic, value=value)
        producer.flush()
        time.sleep(1 / RATE_PER_S)
    thread.join(timeout=30)
    done.set()
    producer.close()
    consumer.close()
    return latencies


def run() -> list[dict]:
    run_id = new_run()
    sessions, feedback = isolated_settings("sessions", run_id), isolated_settings("feedback", run_id)
    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    count = RATE_PER_S * SECONDS
    seed_active_pairings(sessions, PAIRINGS)
    sessions_env, feedback_env = service_env(sessions, workdir), service_env(feedback, workdir)
    api, base = start_api("sessions", sessions_env, workdir)
    processes = [api, start_worker("sessions", sessions_env, workdir), start_worker("feedback", feedback_env, workdir)]
    headers = {"Authorization": f"Bearer {mint_token(sessions.jwt_secret, 'E000001', ['admin'])}"}
    held_view = live_database(database_for(feedback))["fb_meetings"]  # the live generation of the view
    try:
        deadline = time.monotonic() + 120

        def schedule(i: int) -> str:
            while True:  # 404 until the sessions worker has projected that pairing
                response = requests.post(f"{base}/v1/pairings/bench-p{i % PAIRINGS}/meetings", headers=headers,
                                         timeout=30, json={"starts_at": "2030-06-01T10:00:00Z", "duration_minutes": 30})
                if response.status_code not in (404, 409) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)  # 409: another of these requests scheduled in the same pairing at once
            response.raise_for_status()
            return response.json()["meeting_id"]

        with ThreadPoolExecutor(max_workers=PAIRINGS) as pool:
            meetings = list(pool.map(schedule, range(count)))
        accepted: dict[str, float] = {}
        latencies: list[float] = []
        lock = threading.Lock()

        refused: dict[str, int] = {}  # answers other than 200 (or the exception), by kind

        def complete(meeting_id: str) -> None:
            try:
                response = requests.post(f"{base}/v1/meetings/{meeting_id}/complete", headers=headers, timeout=30,
                                         json={"held_at": "2026-01-01T10:00:00Z"})
                outcome = str(response.status_code)
            except requests.RequestException as error:
                outcome = type(error).__name__
            with lock:
                if outcome == "200":
                    accepted[meeting_id] = time.perf_counter()
                else:
                    refused[outcome] = refused.get(outcome, 0) + 1

        def watch() -> None:
            pending = set(meetings)
            stop_at = time.monotonic() + SECONDS + 120
            while pending and time.monotonic() < stop_at:
                with lock:
                    ready = [m for m in pending if m in accepted]
                for meeting_id in ready:
                    if held_view.find_one({"_id": meeting_id}, {"_id": 1}) is not None:
                        latencies.append(time.perf_counter() - accepted[meeting_id])
                        pending.discard(meeting_id)
                time.sleep(0.005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:  # open loop: a fixed offered rate
            for meeting_id in meetings:
                pool.submit(complete, meeting_id)
                time.sleep(1 / RATE_PER_S)
        watcher.join()
        baseline = _raw_kafka_latency(sessions, count)
    finally:
        for process in processes:
            process.stop()
        drop(sessions, feedback)
    ours, raw = percentiles(latencies), percentiles(baseline)
    rows = []
    for cut in ("p50", "p95", "p99"):
        rows.append({"benchmark": f"MeetingHeld accepted -> visible in feedback, {cut}", "unit": "ms",
                     "value": round(ours[cut] * 1000, 1) if ours[cut] is not None else None,
                     "baseline": "raw Kafka produce->consume, same rate",
                     "baseline_value": round(raw[cut] * 1000, 1) if raw[cut] is not None else None,
                     "ratio": round(ours[cut] / raw[cut], 2) if ours[cut] and raw[cut] else None,
                     "note": f"{RATE_PER_S}/s offered for {SECONDS}s; {ours['n']}/{count} observed"
                             + (f"; not accepted: {refused}" if refused else "")})
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
