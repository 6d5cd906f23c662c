"""Run services as real processes (gunicorn API, worker) against the test's servers."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
ORG_DATA = Path(os.environ.get("ORG_DATA", ROOT.parent / "shared" / "data" / "org-20k"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(settings, tmp_path: Path, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        SERVICE_NAME=settings.service_name,
        MONGO_URL=settings.mongo_url,
        MONGO_DATABASE=settings.database,
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
        KAFKA_TOPIC_PREFIX=settings.kafka_topic_prefix,
        JWT_SECRET=settings.jwt_secret,
        RELAY_POLL_INTERVAL_S="0.02",
        PYTHONPATH=str(ROOT),
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Process:
    def __init__(self, argv: list[str], env: dict, log_path: Path):
        self.argv, self.env, self.log_path = argv, env, log_path
        self.popen: subprocess.Popen | None = None

    def start(self) -> "Process":
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to flush, commit or say goodbye."""
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self, timeout_s: float = 20) -> int | None:
        if self.popen is None or self.popen.poll() is not None:
            return self.popen.returncode if self.popen else None
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def start_worker(service: str, env: dict, tmp_path: Path) -> Process:
    return Process([sys.executable, "-m", f"services.{service}.worker"], env, tmp_path / f"{service}-worker.log").start()


def start_api(service: str, env: dict, tmp_path: Path) -> tuple[Process, str]:
    port = free_port()
    prom = tmp_path / f"prom-{service}-{port}"
    prom.mkdir()
    api_env = dict(env, PROMETHEUS_MULTIPROC_DIR=str(prom), WEB_CONCURRENCY="2")
    process = Process(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", str(ROOT / "services" / "gunicorn_conf.py"),
         "-b", f"127.0.0.1:{port}", f"services.{service}.api:create_app()"],
        api_env, tmp_path / f"{service}-api.log",
    ).start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"{service} API did not come up:\n{process.log()}")
