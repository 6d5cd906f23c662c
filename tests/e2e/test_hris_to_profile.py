"""End to end with real processes: an HRIS file loaded by `shared.cli load-hris` (the first 3,000
people of org-20k: the whole file is the benchmarks' load) becomes profiles readable over HTTP,
even when the worker is SIGKILLed in the middle of the load."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from shared.http.auth import mint_token
from shared.mongo import database_for
from tests.e2e.processes import ORG_DATA, ROOT, service_env, start_api, start_worker
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

PEOPLE = 3000


def _applied_offsets(db) -> int:
    return sum(doc["next_offset"] for doc in db["consumer_positions"].find({}))


def test_org_load_survives_a_sigkill_and_every_profile_is_served(make_settings, tmp_path):
    settings = make_settings("matching")
    env = service_env(settings, tmp_path)
    db = database_for(settings)
    api, base = start_api("matching", env, tmp_path)
    worker = start_worker("matching", env, tmp_path)
    hris_file = tmp_path / "hris-employees.jsonl"
    with open(ORG_DATA / "hris-employees.jsonl") as lines:
        hris_file.write_text("".join(line for _, line in zip(range(PEOPLE), lines)))
    try:
        subprocess.run([sys.executable, "-m", "shared.cli", "load-hris", str(hris_file)],
                       env=env, cwd=ROOT, check=True, timeout=180)
        wait_until(lambda: _applied_offsets(db) >= 1000, timeout_s=120, message="a part of the load applied")
        worker.kill()
        killed_at = _applied_offsets(db)
        assert killed_at < PEOPLE, "the worker was meant to die mid-load"
        worker = start_worker("matching", env, tmp_path)
        started = time.monotonic()
        wait_until(lambda: _applied_offsets(db) >= PEOPLE, timeout_s=300, interval_s=1,
                   message=f"all {PEOPLE} records applied (worker log: {worker.log()[-500:]})")
        rate = (PEOPLE - killed_at) / (time.monotonic() - started)
        print(f"ingest after restart: {rate:.0f} records/s")
        assert db["participants"].count_documents({}) == PEOPLE

        token = mint_token(settings.jwt_secret, "E000002", ["participant"])  # the person: others get a card or 404
        response = requests.get(f"{base}/v1/participants/E000002", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 200
        profile = response.json()
        assert profile["display_name"] == "Zoe Sato" and profile["timezone"] == "Asia/Kolkata"
        assert profile["status"] == "active"
        assert requests.get(f"{base}/v1/participants/E000002", timeout=10).status_code == 401
        assert requests.get(f"{base}/readyz", timeout=10).json()["status"] == "ready"
    finally:
        worker.stop()
        api.stop()
