"""Run services as real processes (gunicorn API, worker) against the test's servers."""
from __future__ import annotations

import os
import random
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
        MENTORING_ENV=settings.environment,
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


_MIGRATED: set[tuple] = set()


def migrate(service: str, env: dict) -> None:
    """`python -m shared.cli migrate <service>` with the process's environment, once per database
    and topic prefix: topics and indexes exist before any API serves (as `make run` and k8s do)."""
    key = (service, env.get("MONGO_URL"), env.get("MONGO_DATABASE"), env.get("KAFKA_BOOTSTRAP_SERVERS"),
           env.get("KAFKA_TOPIC_PREFIX"))
    if key in _MIGRATED:
        return
    done = subprocess.run([sys.executable, "-m", "shared.cli", "migrate", service], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"migrate {service} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    _MIGRATED.add(key)


def start_worker(service: str, env: dict, tmp_path: Path, replica: int = 0) -> Process:
    migrate(service, env)
    name = f"{service}-worker" + (f"-{replica}" if replica else "")
    return Process([sys.executable, "-m", f"services.{service}.worker"], env, tmp_path / f"{name}.log").start()


def start_workers(service: str, env: dict, tmp_path: Path, replicas: int = 2) -> list[Process]:
    """Several replicas of a service's worker (the prod overlay runs two): one consumer group,
    one relay lease, one store projector lease between them."""
    return [start_worker(service, env, tmp_path, replica=i) for i in range(replicas)]


def start_api(service: str, env: dict, tmp_path: Path, timeout_s: float = 90) -> tuple[Process, str]:
    """gunicorn serving the service's API on a free port, once /healthz answers.

    On a loaded machine /healthz can answer slowly: a read timeout is retried, not an error; a
    process that exits early fails at once with its log.
    """
    migrate(service, env)
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
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return process, base
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
        if process.popen.poll() is not None:
            break
    process.stop()
    raise AssertionError(f"{service} API did not come up:\n{process.log()}")


start_api_patiently = start_api  # the journey's name for it


# -- a private Kafka + MongoDB for fault tests (scripts/devstack.py, own ports and state) -------

def ports_below_ephemeral(count: int = 1) -> int:
    """A port p with p .. p+count-1 free, under Linux's ephemeral range (32768+), for a server that
    binds later or again (a restart). free_port() hands out ephemeral ports: while such a server is
    down, a client's outgoing connection (even one retrying to that very server: TCP's simultaneous
    open lets it connect to itself) can take its port, and the restart fails "Address already in use"."""
    for _ in range(200):
        port = random.randrange(20000, 32000 - count)
        sockets = [socket.socket() for _ in range(count)]
        try:
            for offset, sock in enumerate(sockets):
                sock.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports below 32000")


class PrivateStack:
    """A second Kafka and MongoDB-compatible server that a test may stop, start and wipe at will."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.kafka_port = ports_below_ephemeral(2)  # Kafka's listener and its KRaft controller
        self.mongo_port = ports_below_ephemeral()
        env = dict(os.environ, MENTORING_STATE=str(state_dir), DEVSTACK_KAFKA_PORT=str(self.kafka_port),
                   DEVSTACK_MONGO_PORT=str(self.mongo_port))
        env.pop("DEVSTACK_KAFKA_CONTROLLER_PORT", None)
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        env.pop("MONGO_URL", None)
        self.env = env

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    def run(self, command: str, timeout_s: float = 180) -> None:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "devstack.py"), command], env=self.env,
                       check=True, timeout=timeout_s, stdout=subprocess.DEVNULL)

    def up(self) -> "PrivateStack":
        self.run("up")
        return self

    def stop_kafka(self) -> None:
        self.run("stop-kafka")

    def start_kafka(self) -> None:
        self.run("start-kafka")

    def stop_mongo(self) -> None:
        self.run("stop-mongo")

    def start_mongo(self) -> None:
        self.run("start-mongo")

    def wipe(self) -> None:
        self.run("wipe")


# -- a real SMTP server, a real Prometheus (added for tests/e2e/test_journey.py) ---------------

class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free loopback port; keeps every message it accepts.

    `url` is what a notifications process takes as SMTP_URL. `messages()` returns the parsed
    messages (email.message.EmailMessage) received so far.
    """

    def __init__(self):
        import threading

        self.port = free_port()
        self._lock = threading.Lock()
        self._messages: list = []
        self._controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        import email
        import email.policy

        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self._messages.append(message)
        return "250 Message accepted for delivery"

    def messages(self) -> list:
        with self._lock:
            return list(self._messages)

    def start(self) -> "SmtpSink":
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def start_prometheus(tmp_path: Path, jobs: dict[str, str], *, scrape_interval: str = "1s") -> tuple[Process, str]:
    """Debian's `prometheus` scraping `jobs` (job name -> "host:port" serving /metrics).

    Configuration and TSDB live in tmp_path; listens on a free loopback port. Returns the process
    and its base URL once /-/ready answers.
    """
    import json
    import shutil

    binary = shutil.which("prometheus")
    if binary is None:
        raise AssertionError("prometheus is not installed (Debian package `prometheus`)")
    port = free_port()
    config = {
        "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval,
                   "evaluation_interval": scrape_interval},
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}
                           for job, target in sorted(jobs.items())],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    process = Process(
        [binary, f"--config.file={config_path}", f"--web.listen-address=127.0.0.1:{port}",
         f"--storage.tsdb.path={tmp_path / 'prometheus-data'}"],
        dict(os.environ), tmp_path / "prometheus.log",
    ).start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/-/ready", timeout=1).status_code == 200:
                return process, base
        except requests.ConnectionError:
            pass
        if process.popen.poll() is not None:
            break
        time.sleep(0.2)
    process.stop()
    raise AssertionError(f"prometheus did not come up:\n{process.log()}")


def prometheus_query(base: str, expr: str) -> list[dict]:
    """The instant vector of a PromQL expression (a list of {metric, value})."""
    response = requests.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def prometheus_value(base: str, expr: str) -> float | None:
    """The single value of an expression (e.g. a sum), None if the vector is empty."""
    result = prometheus_query(base, expr)
    return float(result[0]["value"][1]) if result else None
