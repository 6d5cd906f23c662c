"""Shared set-up for the matching integration tests: the API on real MongoDB with a manual clock,
and the worker's own-store parts (views projector, run processor) running in threads."""
from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timezone

import pytest

from shared.clock import ManualClock
from shared.events.envelope import Envelope
from shared.http.auth import mint_token
from services.matching.api import create_app
from services.matching.application.projections import participants_projection
from services.matching.worker import process_runs
from tests.helpers import hris_upsert, wait_until

ADMIN = "A000001"

EMPLOYEES = {
    # id: (level, department, manager_id, timezone)
    "M001": (7, "Engineering", None, "Europe/London"),
    "M002": (7, "Sales", None, "Europe/Paris"),
    "E001": (3, "Engineering", "M001", "Europe/London"),
    "E002": (3, "Engineering", None, "Europe/London"),
    "E003": (3, "Finance", None, "America/New_York"),
}


def token(subject: str, *roles: str) -> dict:
    return {"Authorization": f"Bearer {mint_token(os.environ['JWT_SECRET'], subject, list(roles) or ['participant'])}"}


ADMIN_H = token(ADMIN, "admin")


class OwnStoreWorker:
    """What the matching worker runs besides Kafka: the views projector and the run processor."""

    def __init__(self, context):
        self.context = context
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=context.projector.run, args=(self.stop,), daemon=True),
                        threading.Thread(target=self._runs, daemon=True)]

    def _runs(self):
        while not self.stop.is_set():
            try:
                process_runs(self.context)
            except Exception:  # noqa: BLE001 - the worker's periodic job logs and retries too
                pass
            self.stop.wait(0.05)

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


class Harness:
    def __init__(self, settings):
        self.settings = settings
        self.clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
        self.app = create_app(settings, clock=self.clock)
        self.client = self.app.test_client()
        self.context = self.app.extensions["matching"]
        self.context.ensure_indexes()
        self.directory = participants_projection(self.context.database)
        self.worker = OwnStoreWorker(self.context).start()

    def close(self):
        self.worker.close()

    def hire(self, employee_id, level=5, department="Engineering", manager_id=None, tz="Europe/London", **extra):
        raw = hris_upsert(employee_id, occurred_at="2026-01-01T00:00:00Z", level=level, department=department,
                          manager_id=manager_id, timezone=tz, **extra)
        self.directory.apply(Envelope.from_hris(raw))

    def cohort(self, *, status="matching", answer_deadline_days=None, rules=None) -> str:
        program = self.client.post("/v1/programs", json={"name": "Engineering mentoring"}, headers=ADMIN_H)
        assert program.status_code == 201, program.json
        body = {"name": "Spring 2026", "starts_on": "2026-03-01", "ends_on": "2026-08-31"}
        if answer_deadline_days:
            body["answer_deadline_days"] = answer_deadline_days
        if rules is not None:
            body["rules"] = rules
        cohort = self.client.post(f"/v1/programs/{program.json['program_id']}/cohorts", json=body, headers=ADMIN_H)
        assert cohort.status_code == 201, cohort.json
        cohort_id = cohort.json["cohort_id"]
        for step in ("enrolling", "matching", "active", "closed"):
            if step == "matching" and status == "enrolling":
                break
            changed = self.client.post(f"/v1/cohorts/{cohort_id}/status", json={"status": step}, headers=ADMIN_H)
            assert changed.status_code == 200, changed.json
            if step == status:
                break
        return cohort_id

    def enroll(self, cohort_id, employee_id, role, *, capacity=None, topics=("python",), **extra):
        body = {"employee_id": employee_id, "role": role, "topics": list(topics), **extra}
        if capacity is not None:
            body["capacity"] = capacity
        return self.client.post(f"/v1/cohorts/{cohort_id}/enrollments", json=body, headers=ADMIN_H)

    def populated_cohort(self, **kwargs) -> str:
        for employee_id, (level, dept, manager, tz) in EMPLOYEES.items():
            self.hire(employee_id, level=level, department=dept, manager_id=manager, tz=tz)
        cohort_id = self.cohort(**kwargs)
        assert self.enroll(cohort_id, "M001", "mentor", capacity=2, topics=["python", "leadership"]).status_code == 201
        assert self.enroll(cohort_id, "M002", "mentor", capacity=1, topics=["sales"]).status_code == 201
        for mentee in ("E001", "E002", "E003"):
            assert self.enroll(cohort_id, mentee, "mentee", topics=["python"]).status_code == 201
        return cohort_id

    def start_run(self, cohort_id, **body):
        return self.client.post(f"/v1/cohorts/{cohort_id}/matching-runs", json=body, headers=ADMIN_H)

    def poll(self, run_id: str, timeout_s: float = 120) -> dict:
        """GET the run until it is no longer running (how every client waits for a run).

        A run of five people takes 3-10 s on a machine at load 10 (measured: its views applying the
        proposals, every write 50-600 ms), and went past 60 s twice at load 14: the margin is wide."""
        def finished():
            response = self.client.get(f"/v1/matching-runs/{run_id}", headers=ADMIN_H)
            assert response.status_code == 200, response.json
            return response.json if response.json["status"] != "running" else None

        return wait_until(finished, timeout_s=timeout_s, interval_s=0.05, message=f"run {run_id} to finish")

    def run(self, cohort_id, **body) -> dict:
        """Start a run (202) and wait for its result."""
        started = self.start_run(cohort_id, **body)
        assert started.status_code == 202, started.json
        return self.poll(started.json["run_id"])

    def pairings(self, cohort_id, headers=ADMIN_H, **query):
        response = self.client.get(f"/v1/cohorts/{cohort_id}/pairings", query_string=query, headers=headers)
        assert response.status_code == 200, response.json
        return response.json

    def settle(self):
        """Until the views include everything stored so far."""
        assert self.context.projector.wait_for(self.context.store.current_position(), timeout_s=30)


@pytest.fixture
def harness(make_settings):
    harness = Harness(make_settings("matching"))
    yield harness
    harness.close()


def wait_a_moment():
    time.sleep(0.05)
