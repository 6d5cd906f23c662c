"""Dockerfile, entrypoint and docker-compose.yml (issue 7).  No Docker engine
here, so these are static checks plus running the entrypoint's argument
handling with stub gunicorn/python commands."""
from __future__ import annotations

import ast
import os
import re
import stat
import subprocess

import pytest
import yaml

from ._tools import CONTRACT_TOPICS, PORTAL, ROLES, ROOT, SERVICES

ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_dockerfile_is_multi_stage_non_root_with_the_entrypoint():
    text = (ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, re.M | re.I)
    assert [alias for _, alias in froms] == ["builder", "runtime"]
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    assert re.search(r"pip install \.(\s|$)", text, re.M), "builder must `pip install .`"
    assert "COPY --from=builder /opt/venv /opt/venv" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] == "10001"
    assert re.search(r"^ENV .*PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus", text, re.M | re.S)
    assert 'ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]' in text
    assert "deploy/docker/entrypoint.sh" in text


def test_dockerignore_lets_in_what_the_dockerfile_copies():
    ignore = (ROOT / ".dockerignore").read_text().split()
    for needed in ("!pyproject.toml", "!services/", "!shared/", "!deploy/docker/entrypoint.sh"):
        assert needed in ignore


@pytest.fixture()
def stub_bin(tmp_path):
    """gunicorn and python stubs that print their argv instead of running."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("gunicorn", "python"):
        f = bin_dir / name
        f.write_text(f'#!/bin/sh\necho "{name} $*"\necho "SERVICE_NAME=$SERVICE_NAME"\n'
                     'echo "WORKER_METRICS_PORT=$WORKER_METRICS_PORT"\necho "PROMETHEUS_MULTIPROC_DIR=$PROMETHEUS_MULTIPROC_DIR"\n')
        f.chmod(f.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def _entrypoint(stub_bin, tmp_path, *args):
    env = {"PATH": f"{stub_bin}:/usr/bin:/bin", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    return subprocess.run(["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=30)


def test_entrypoint_is_executable_and_valid_sh():
    assert os.access(ENTRYPOINT, os.X_OK)
    assert subprocess.run(["sh", "-n", str(ENTRYPOINT)]).returncode == 0


@pytest.mark.parametrize("svc", SERVICES)
def test_entrypoint_starts_api_and_worker(stub_bin, tmp_path, svc):
    stale = tmp_path / "prom" / "counter_1.db"
    stale.parent.mkdir()
    stale.write_text("stale")
    api = _entrypoint(stub_bin, tmp_path, "api", svc)
    assert api.returncode == 0, api.stderr
    assert f'services.{svc}.api:create_app()' in api.stdout
    assert "-c python:services.gunicorn_conf" in api.stdout and "--bind 0.0.0.0:8000" in api.stdout
    assert f"SERVICE_NAME={svc}" in api.stdout
    assert (tmp_path / "prom").is_dir() and not stale.exists(), "multiproc dir not reset"
    worker = _entrypoint(stub_bin, tmp_path, "worker", svc)
    assert worker.returncode == 0, worker.stderr
    assert worker.stdout.splitlines()[0] == f"python -m services.{svc}.worker"
    assert "WORKER_METRICS_PORT=9100" in worker.stdout and "PROMETHEUS_MULTIPROC_DIR=\n" in worker.stdout


def _app_factory_exists(app_path: str) -> bool:
    """`services.<x>.api:create_app()` names a module file defining create_app."""
    module, _, call = app_path.partition(":")
    source = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    if not source.is_file() or call != "create_app()":
        return False
    return any(isinstance(node, ast.FunctionDef) and node.name == "create_app"
               for node in ast.parse(source.read_text()).body)


@pytest.mark.parametrize("svc", list(ROLES))
def test_entrypoint_serves_each_deployables_real_app_factory(stub_bin, tmp_path, svc):
    api = _entrypoint(stub_bin, tmp_path, "api", svc)
    assert api.returncode == 0, api.stderr
    (app_path,) = [arg for arg in api.stdout.split() if arg.startswith("services.")]
    assert app_path == f"services.{svc}.api:create_app()" and _app_factory_exists(app_path), app_path
    assert f"SERVICE_NAME={svc}" in api.stdout


@pytest.mark.parametrize("role", ["worker", "migrate"])
def test_entrypoint_refuses_a_portal_worker_or_migration(stub_bin, tmp_path, role):
    res = _entrypoint(stub_bin, tmp_path, role, PORTAL)
    assert res.returncode == 64 and "usage" in res.stderr
    assert f"the portal has no {role} process" in res.stderr
    assert not res.stdout, "nothing may have been started"


def test_entrypoint_migrates_and_exits(stub_bin, tmp_path):
    res = _entrypoint(stub_bin, tmp_path, "migrate", "sessions")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "python -m shared.cli migrate sessions"


@pytest.mark.parametrize("args", [(), ("api",), ("api", "billing"), ("reindex", "matching"), ("reindex", "portal")])
def test_entrypoint_rejects_bad_arguments(stub_bin, tmp_path, args):
    res = _entrypoint(stub_bin, tmp_path, *args)
    assert res.returncode == 64 and "usage" in res.stderr


def test_compose_runs_the_eight_processes_from_one_image():
    services = _compose()["services"]
    for i, svc in enumerate(SERVICES):
        for comp, inner, outer in (("api", 8000, 8001 + i), ("worker", 9100, 9101 + i)):
            s = services[f"{svc}-{comp}"]
            assert s["image"] == "mentoring-platform:dev" and s["build"]["context"] == "."
            assert s["command"] == [comp, svc]
            assert s["ports"] == [f"{outer}:{inner}"]
            assert s["read_only"] is True and s["user"] == "10001:10001" and s["cap_drop"] == ["ALL"]
            env = s["environment"]
            assert env["SERVICE_NAME"] == svc
            assert {"MONGO_URL", "KAFKA_BOOTSTRAP_SERVERS", "JWT_SECRET", "JWT_ISSUER", "JWT_AUDIENCE",
                    "LOG_LEVEL", "PROMETHEUS_MULTIPROC_DIR"} <= set(env)
            assert ("SMTP_URL" in env) == (svc == "notifications")
            if comp == "worker":
                assert env["WORKER_METRICS_PORT"] == "9100"
            assert f"{inner}/healthz" in " ".join(s["healthcheck"]["test"])
            assert s["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"


def test_compose_runs_the_portal_against_the_four_apis():
    portal = _compose()["services"][PORTAL]
    assert portal["image"] == "mentoring-platform:dev" and portal["command"] == ["api", PORTAL]
    assert portal["read_only"] is True and portal["user"] == "10001:10001" and portal["cap_drop"] == ["ALL"]
    env = portal["environment"]
    for svc in SERVICES:
        assert env[f"{svc.upper()}_URL"] == f"http://{svc}-api:8000"
        assert portal["depends_on"][f"{svc}-api"]["condition"] == "service_healthy"
    assert {"PORTAL_OIDC_ISSUER", "PORTAL_OIDC_CLIENT_ID", "PORTAL_OIDC_CLIENT_SECRET", "PORTAL_SECRET_KEY",
            "MONGO_URL"} <= set(env)
    published = portal["ports"][0].split(":")[0]
    notifications = _compose()["services"]["notifications-api"]["environment"]
    assert f"http://localhost:{published}" in notifications["NOTIFICATIONS_APP_URL"], "emails link to the portal"


def test_compose_infrastructure():
    services = _compose()["services"]
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", services["kafka"]["image"])
    kenv = services["kafka"]["environment"]
    assert kenv["KAFKA_PROCESS_ROLES"] == "broker,controller" and "zookeeper" not in str(kenv).lower()
    assert re.fullmatch(r"mongo:7(\.\d+)*", services["mongo"]["image"])
    assert "--replSet" in services["mongo"]["command"]
    init = " ".join(services["kafka-init"]["command"])
    for topic in CONTRACT_TOPICS:
        assert f"--topic {topic} " in init and f"--topic {topic}.dlq " in init
    prom = services["prometheus"]
    mounts = " ".join(prom["volumes"])
    assert "./deploy/prometheus/prometheus.compose.yml:/etc/prometheus/prometheus.yml" in mounts
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml" in mounts
    for mount in prom["volumes"]:
        src = mount.split(":")[0]
        if src.startswith("./"):
            assert (ROOT / src).is_file(), src
