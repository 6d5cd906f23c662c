"""HTTP: a command route (schedule a meeting) under gunicorn beside a bare Flask route doing one
raw `insert_one` into the same MongoDB server (bench/bare_app.py; issue 16's baseline).

Both run under the same gunicorn configuration (services/gunicorn_conf.py, fixed workers and
threads) and take the same load from wrk (a second process on loopback, bounded in time). The
bare route writes into a database of its own, dropped with the run's.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench.harness import drop, isolated_settings, new_run, seed_active_pairings
from shared.http.auth import mint_token
from shared.mongo import client_for
from tests.e2e.processes import ROOT, Process, free_port, service_env, start_worker

WORKERS, THREADS, CONNECTIONS, SECONDS = 2, 4, 8, 10
PAIRINGS = 20

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local body = '{"starts_at": "2030-06-01T10:00:00Z", "duration_minutes": 30}'
request = function()
  local i = math.random(0, %(pairings)d - 1)
  return wrk.format(nil, string.format("%(path)s", i), nil, body)
end
"""


def _gunicorn(app: str, env: dict, log: Path) -> tuple[Process, str]:
    port = free_port()
    prom = Path(tempfile.mkdtemp(prefix="bench-prom-"))
    proc_env = dict(env, WEB_CONCURRENCY=str(WORKERS), GUNICORN_THREADS=str(THREADS), PROMETHEUS_MULTIPROC_DIR=str(prom))
    process = Process([str(Path(sys.executable).with_name("gunicorn")), "-c", str(ROOT / "services" / "gunicorn_conf.py"),
                       "-b", f"127.0.0.1:{port}", app], proc_env, log).start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            requests.get(f"{base}/healthz", timeout=1)
            return process, base
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{app} did not start: {process.log()}")


def _wrk(base: str, script: Path) -> dict:
    out = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", "-s", str(script), base],
                         check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale, "non_2xx": int(errors.group(1)) if errors else 0}


def run() -> list[dict]:
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is needed for the HTTP benchmark (Debian package wrk; `make bench` installs it)")
    run_id = new_run()
    settings = isolated_settings("sessions", run_id)
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    seed_active_pairings(settings, PAIRINGS)
    from services.sessions.worker import build_consumer

    build_consumer(settings).rebuild(idle_timeout_s=30)
    env = service_env(settings, workdir)
    token = mint_token(settings.jwt_secret, "E000001", ["admin"])
    # The worker projects what each request appended (the API waits for its commit to be in the
    # meetings view before answering), as in production.
    worker = start_worker("sessions", env, workdir)
    service, service_base = _gunicorn("services.sessions.api:create_app()", env, workdir / "sessions.log")
    bare_env = dict(env, MONGO_DATABASE=f"bench_{run_id}_bare")
    bare, bare_base = _gunicorn("bench.bare_app:create_app()", bare_env, workdir / "bare.log")
    try:
        probe = requests.post(f"{service_base}/v1/pairings/bench-p0/meetings", headers={"Authorization": f"Bearer {token}"},
                              json={"starts_at": "2030-06-01T10:00:00Z", "duration_minutes": 30}, timeout=10)
        if probe.status_code != 201:
            raise RuntimeError(f"schedule route answered {probe.status_code}: {probe.text}")
        service_script = workdir / "service.lua"
        service_script.write_text(LUA % {"token": token, "pairings": PAIRINGS, "path": "/v1/pairings/bench-p%d/meetings"})
        bare_script = workdir / "bare.lua"
        bare_script.write_text(LUA % {"token": token, "pairings": PAIRINGS, "path": "/v1/echo?i=%d"})
        bare_result = _wrk(bare_base, bare_script)
        service_result = _wrk(service_base, service_script)
    finally:
        service.stop()
        bare.stop()
        worker.stop()
        client_for(settings.mongo_url).drop_database(bare_env["MONGO_DATABASE"])
        drop(settings)
    note = f"gunicorn {WORKERS}x{THREADS} gthread, wrk {CONNECTIONS} connections {SECONDS}s"
    if service_result["non_2xx"] or bare_result["non_2xx"]:
        note += f"; non-2xx: service {service_result['non_2xx']}, bare {bare_result['non_2xx']}"
    return [
        {"benchmark": "HTTP schedule-meeting throughput", "unit": "req/s", "value": service_result["rps"],
         "baseline": "bare Flask route (one insert_one), same gunicorn", "baseline_value": bare_result["rps"],
         "ratio": round(service_result["rps"] / bare_result["rps"], 3), "note": note},
        {"benchmark": "HTTP schedule-meeting p99 latency", "unit": "ms", "value": round(service_result["p99_ms"], 2),
         "baseline": "bare Flask route (one insert_one), same gunicorn", "baseline_value": round(bare_result["p99_ms"], 2),
         "ratio": round(service_result["p99_ms"] / bare_result["p99_ms"], 2), "note": note},
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
