"""Dockerfile, entrypoint and docker-compose.yml (issue 7).  No Docker engine
here, so these are static checks plus running the entrypoint's argument
handling with stub gunicorn/python commands."""
from __future__ import annotations

import ast
import json
import os
import re
import stat
import subprocess

import pytest
import yaml

from ._tools import PORTAL, ROLES, ROOT, SERVICES

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
            assert s["ports"] == [f"127.0.0.1:{outer}:{inner}"]
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
    published = portal["ports"][0].split(":")[-2]
    notifications = _compose()["services"]["notifications-api"]["environment"]
    assert f"http://localhost:{published}" in notifications["NOTIFICATIONS_APP_URL"], "emails link to the portal"


def test_compose_infrastructure():
    services = _compose()["services"]
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", services["kafka"]["image"])
    kenv = services["kafka"]["environment"]
    assert kenv["KAFKA_PROCESS_ROLES"] == "broker,controller" and "zookeeper" not in str(kenv).lower()
    assert re.fullmatch(r"mongo:7(\.\d+)*", services["mongo"]["image"])
    assert "--replSet" in services["mongo"]["command"]
    prom = services["prometheus"]
    mounts = " ".join(prom["volumes"])
    assert "./deploy/prometheus/prometheus.compose.yml:/etc/prometheus/prometheus.yml" in mounts
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml" in mounts
    for mount in prom["volumes"]:
        src = mount.split(":")[0]
        if src.startswith("./"):
            assert (ROOT / src).is_file(), src


# ------------------------------------------------------ least privilege (issue 12) --

def _published(port) -> tuple[str, str]:
    """(host address, host port) of a compose port entry, short or long syntax."""
    if isinstance(port, dict):
        return port.get("host_ip", ""), str(port.get("published", ""))
    parts = str(port).split("/")[0].split(":")
    return (parts[0], parts[1]) if len(parts) == 3 else ("", parts[0])


def test_every_published_port_listens_on_loopback_only():
    """Nothing of the development stack (databases without TLS, dev passwords) on the network."""
    services = _compose()["services"]
    published = [(name, port) for name, s in services.items() for port in s.get("ports", [])]
    assert len(published) >= 13
    for name, port in published:
        address, host_port = _published(port)
        assert address == "127.0.0.1" and host_port, f"{name} publishes {port} beyond loopback"


def _app_containers() -> dict[str, dict]:
    return {name: s for name, s in _compose()["services"].items() if s.get("image") == "mentoring-platform:dev"
            and name != "kafka-init"}


def test_compose_kafka_is_sasl_scram_with_acls_and_each_process_logs_in_as_itself():
    from shared import kafka_access

    services = _compose()["services"]
    kenv = services["kafka"]["environment"]
    protocols = dict(pair.split(":") for pair in kenv["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = dict(entry.split("://") for entry in kenv["KAFKA_LISTENERS"].split(","))
    for name, address in listeners.items():
        if name == kenv["KAFKA_CONTROLLER_LISTENER_NAMES"]:
            # Plain, ANONYMOUS a super user there (as devstack): reachable from inside the container only.
            assert address.startswith("127.0.0.1:"), f"controller listener on {address}"
        else:
            assert protocols[name].startswith("SASL_"), f"listener {name} is {protocols[name]}"
    assert kenv["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert kenv["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert set(kenv["KAFKA_SUPER_USERS"].split(";")) == {f"User:{kafka_access.ADMIN}", "User:ANONYMOUS"}
    assert "allow.everyone.if.no.acl.found" not in " ".join(kenv).lower().replace("_", ".")
    # The storage is formatted with the super user's SCRAM credential before the image starts.
    start = services["kafka"]["entrypoint"]
    script = ROOT / "deploy" / "docker" / "kafka-start.sh"
    assert start[-1] == "/opt/mentoring/kafka-start.sh"
    assert f"./deploy/docker/kafka-start.sh:{start[-1]}:ro" in services["kafka"]["volumes"]
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    assert "--add-scram" in script.read_text()
    # kafka-init: as the super user, the topics and every user with exactly its ACLs (the shared code).
    init = services["kafka-init"]
    assert init["environment"]["KAFKA_SASL_USERNAME"] == kafka_access.ADMIN
    assert "python -m shared.cli ensure-topics" in init["command"][0]
    assert "python -m shared.cli kafka-access" in init["command"][0]
    for user in kafka_access.USERS:
        if user != kafka_access.ADMIN:
            assert f"KAFKA_{user.upper()}_PASSWORD" in init["environment"], user
    # Each process its own user, never another's.
    for name, s in _app_containers().items():
        env = s["environment"]
        owner = env["SERVICE_NAME"]
        if owner == PORTAL:
            assert "KAFKA_SASL_USERNAME" not in env  # the web app uses no Kafka
            continue
        assert env["KAFKA_SASL_USERNAME"] == owner, name
        assert env["KAFKA_SASL_PASSWORD"].startswith(f"${{KAFKA_{owner.upper()}_PASSWORD:-"), name
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", name


def test_the_kafka_access_command_applies_the_shared_users_and_acls(monkeypatch):
    """kafka-init's `python -m shared.cli kafka-access` is shared.kafka_access.ensure_users_and_acls."""
    from shared import cli, kafka_access

    applied = []
    monkeypatch.setattr(kafka_access, "ensure_users_and_acls", lambda settings: applied.append(settings))
    assert cli.main(["kafka-access"]) == 0
    assert len(applied) == 1


def test_compose_mongodb_has_one_user_per_process_with_readwrite_on_its_own_database_only():
    from urllib.parse import parse_qs, urlsplit

    from shared.config import Settings

    services = _compose()["services"]
    mongo = services["mongo"]
    assert "--keyFile" in mongo["command"], "a replica set with users needs its key file"
    assert mongo["environment"]["MONGO_INITDB_ROOT_USERNAME"] and mongo["environment"]["MONGO_INITDB_ROOT_PASSWORD"]
    script = ROOT / "deploy" / "docker" / "mongo-users.js"
    assert "./deploy/docker/mongo-users.js:/docker-entrypoint-initdb.d/10-mongo-users.js:ro" in mongo["volumes"]
    text = script.read_text()
    users = json.loads(re.search(r"const users = (\{.*?\});", text, re.S).group(1))
    owners = [*SERVICES, PORTAL]
    assert users == {svc: Settings(service_name=svc).database for svc in owners}
    assert re.findall(r"roles: \[(.*?)\]", text) == ['{role: "readWrite", db: database}']
    for svc in owners:
        assert f"MONGO_{svc.upper()}_PASSWORD" in mongo["environment"], svc
    seen = set()
    for name, s in _app_containers().items():
        env = s["environment"]
        owner = env["SERVICE_NAME"]
        url = urlsplit(env["MONGO_URL"])
        assert url.username == owner, f"{name} connects as {url.username}"
        assert url.password == f"${{MONGO_{owner.upper()}_PASSWORD:-{owner}-local-dev}}", name
        assert parse_qs(url.query)["authSource"] == ["admin"], name
        seen.add(owner)
    assert seen == set(owners)
