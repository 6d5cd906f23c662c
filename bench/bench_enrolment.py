"""Enrolment at scale (issue 16): org-20k's 12,500 enrolments through the bulk route, and the cost of
one single enrolment in a cohort that already holds them.

The matching API (gunicorn) and worker run as processes over their own database with the org-20k
HRIS load applied. In one enrolling cohort:
1. BENCH_SINGLE_SAMPLES people who are not in the enrolments file enrol one by one (the first
   enrolments of an empty cohort): their p95 is the baseline of step 3, their mean the
   one-by-one rate the bulk is compared with;
2. the file's 12,500 enrolments in one bulk request (JSON list): the answer's time, and the time
   until the views include all of them (the matching worker's projector checkpoint passes the
   store's last position); target 60 s;
3. once the views have caught up, BENCH_SINGLE_SAMPLES more people one by one: p95 at >= 10,000
   enrolled, against step 1's (issue 16: at most 2x).
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import requests

from bench.bench_portal import _wait_for_participants
from bench.harness import drop, isolated_settings, new_run, percentiles
from shared.cli import load_hris
from shared.eventstore import EventStore
from shared.http.auth import mint_token
from shared.mongo import database_for
from tests.e2e.processes import ORG_DATA, service_env, start_api, start_worker

ADMIN = "E000001"
SAMPLES = int(os.environ.get("BENCH_SINGLE_SAMPLES", "100"))
TARGET_S = 60.0


def _views_caught_up(settings, timeout_s: float = 900) -> float:
    """Seconds until the worker's views projector has applied everything stored so far."""
    database = database_for(settings)
    store, checkpoints = EventStore(database), database["projector_checkpoints"]
    head = store.current_position()
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        doc = checkpoints.find_one({"_id": "matching-own"})
        if doc and int(doc["next_position"]) > head:
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError("the matching views did not catch up")


def run() -> list[dict]:
    run_id = new_run()
    settings = isolated_settings("matching", run_id)
    workdir = Path(tempfile.mkdtemp(prefix="bench-enrol-"))
    env = service_env(settings, workdir, MENTORING_ENV="development")
    processes = []
    try:
        process, base = start_api("matching", env, workdir)
        processes += [process, start_worker("matching", env, workdir)]
        hris = ORG_DATA / "hris-employees.jsonl"
        load_hris(str(hris), settings)
        _wait_for_participants(database_for(settings)["participants"], hris)
        with open(ORG_DATA / "cohort-enrollments.jsonl") as lines:
            rows = [json.loads(line) for line in lines if line.strip()]
        with open(hris) as lines:
            active = [record["data"]["employee_id"] for record in map(json.loads, lines)
                      if record["data"].get("active", True)]
        in_file = {row["employee_id"] for row in rows}
        others = [employee_id for employee_id in active if employee_id not in in_file and employee_id != ADMIN]
        admin = requests.Session()
        admin.headers["Authorization"] = f"Bearer {mint_token(settings.jwt_secret, ADMIN, ['admin', 'participant'])}"
        program = admin.post(f"{base}/v1/programs", json={"name": "Bench"}, timeout=30).json()["program_id"]
        cohort = admin.post(f"{base}/v1/programs/{program}/cohorts", json={
            "name": "Bench cohort", "starts_on": "2026-01-01", "ends_on": "2027-12-31"}, timeout=30).json()["cohort_id"]
        admin.post(f"{base}/v1/cohorts/{cohort}/status", json={"status": "enrolling"}, timeout=30)
        path = f"{base}/v1/cohorts/{cohort}/enrollments"

        def singles(people: list[str]) -> list[float]:
            samples = []
            for employee_id in people:
                started = time.perf_counter()
                answer = admin.post(path, json={"employee_id": employee_id, "role": "mentee", "topics": ["bench"]},
                                    timeout=60)
                samples.append(time.perf_counter() - started)
                assert answer.status_code == 201, answer.text
            return samples

        first = singles(others[:SAMPLES])
        started = time.perf_counter()
        answer = admin.post(path, json=rows, timeout=600)
        answered_s = time.perf_counter() - started
        assert answer.status_code == 200, answer.text[:500]
        body = answer.json()
        assert body["enrolled"] == len(rows), {k: body[k] for k in ("enrolled", "already_enrolled", "failed")}
        views_s = answered_s + _views_caught_up(settings)
        later = singles(others[SAMPLES:2 * SAMPLES])
        one_by_one_s = sum(first) / len(first) * len(rows)
        p_first, p_later = percentiles(first), percentiles(later)
        return [
            {"benchmark": f"bulk enrolment of {len(rows)}: answered", "unit": "s", "value": round(answered_s, 1),
             "baseline": "one by one (first enrolments' mean x n)", "baseline_value": round(one_by_one_s, 1),
             "ratio": round(answered_s / one_by_one_s, 3),
             "note": f"{len(rows) / answered_s:.0f} enrolments/s answered; target {TARGET_S:.0f} s"},
            {"benchmark": f"bulk enrolment of {len(rows)}: in the views", "unit": "s", "value": round(views_s, 1),
             "baseline": "issue 16 target", "baseline_value": TARGET_S, "ratio": round(views_s / TARGET_S, 3),
             "note": f"{len(rows) / views_s:.0f} enrolments/s until every enrolment is listed"},
            {"benchmark": f"single enrolment p95 at {len(rows) + SAMPLES} enrolled", "unit": "ms",
             "value": round(p_later["p95"] * 1000, 1), "baseline": f"the first {SAMPLES} enrolments' p95",
             "baseline_value": round(p_first["p95"] * 1000, 1), "ratio": round(p_later["p95"] / p_first["p95"], 2),
             "note": "issue 16: at most 2x"},
        ]
    finally:
        for process in processes:
            process.stop()
        drop(settings)
