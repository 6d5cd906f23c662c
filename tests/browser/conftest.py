"""The browser tests' world: the four services, the portal and a real Keycloak as processes, and
Playwright (PyPI) driving Debian's chromium by path (never a downloaded browser).

Everything runs against the test's own databases and topic prefix (tests/conftest.py
`make_settings`), started the way tests/e2e/processes.py starts services. Keycloak gets a realm
with only the people the test needs (the import of all 20,000 is `make run`'s, once).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import requests

from scripts import idp
from tests.e2e import processes as processes_module
from tests.e2e.processes import (
    ORG_DATA, ROOT, Process, SmtpSink, ports_below_ephemeral, service_env, start_api_patiently, start_worker,
)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]
AXE_VERSION = "4.14.1"
AXE_DIR = Path(os.environ.get("MENTORING_CACHE", Path.home() / ".cache" / "mentoring")) / "npm" / f"axe-core-{AXE_VERSION}"
ARTIFACTS = ROOT / "tests" / "artifacts"
KEYCLOAK_DB = idp.CACHE / "keycloak" / "browser-test-db"
SERVICES = ("matching", "sessions", "feedback", "notifications")
PASSWORD = "browser-test-password"
ADMIN = "E000001"


def axe_script() -> Path:
    """axe-core from npm, installed once into the cache (outside git)."""
    script = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        if not shutil.which("npm"):
            pytest.fail("npm is needed to install axe-core for the accessibility checks")
        AXE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(AXE_DIR),
                        f"axe-core@{AXE_VERSION}"], check=True, capture_output=True, timeout=300)
    return script


@dataclass
class Stack:
    portal: str
    apis: dict
    smtp: SmtpSink
    people: dict  # employee id -> HRIS data
    enrolments: list
    settings: dict
    logs: Path
    processes: list = field(default_factory=list)


def _hris_lines(wanted: set[str]) -> list[str]:
    found = []
    with open(ORG_DATA / "hris-employees.jsonl") as lines:
        for line in lines:
            if json.loads(line)["data"]["employee_id"] in wanted:
                found.append(line)
                if len(found) == len(wanted):
                    break
    return found


def _enrolment_lines(mentees: int, mentors: int) -> list[dict]:
    chosen = {"mentee": [], "mentor": []}
    limits = {"mentee": mentees, "mentor": mentors}
    with open(ORG_DATA / "cohort-enrollments.jsonl") as lines:
        for line in lines:
            body = json.loads(line)
            if len(chosen[body["role"]]) < limits[body["role"]]:
                chosen[body["role"]].append(body)
            if all(len(chosen[r]) == limits[r] for r in limits):
                break
    return chosen["mentor"] + chosen["mentee"]


def _wait(url: str, timeout_s: float, process: Process) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=3).status_code == 200:
                return
        except requests.RequestException:
            pass
        if process.popen.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer:\n{process.log()}")


@pytest.fixture
def stack(make_settings, tmp_path):
    """Services (API + worker each), the portal and Keycloak, wired as `make run` wires them."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does)")
    idp.install()
    settings = {service: make_settings(service) for service in SERVICES}
    portal_settings = replace(settings["matching"], service_name="portal",
                              mongo_database=settings["matching"].database.replace("matching", "portal"))
    kc_port = ports_below_ephemeral(2)  # Keycloak binds minutes after we choose them
    issuer = idp.issuer(kc_port)
    auth_env = dict(JWT_JWKS_URL=f"{issuer}/protocol/openid-connect/certs", JWT_ISSUER=issuer,
                    JWT_AUDIENCE=idp.API_AUDIENCE, MENTORING_ENV="development")
    enrolments = _enrolment_lines(mentees=8, mentors=4)
    wanted = {line["employee_id"] for line in enrolments} | {ADMIN}
    hris = _hris_lines(wanted)
    people = {json.loads(line)["data"]["employee_id"]: json.loads(line)["data"] for line in hris}
    smtp = SmtpSink().start()
    processes: list[Process] = []
    try:
        # Keycloak first (the slowest to start): the test's people, and the portal on any loopback
        # port (Keycloak matches loopback redirect URIs without their port, RFC 8252 7.3). Its H2
        # database persists in the cache, so only the first run pays for the realm import.
        import_dir = tmp_path / "idp-import"
        idp.prepare_import(import_dir, portal_urls=["http://127.0.0.1"], only=wanted, password=PASSWORD,
                           client_secret="browser-secret", admins={ADMIN})
        idp.link_import_dir(import_dir)
        keycloak = Process(idp.serve_argv(kc_port, KEYCLOAK_DB), idp.keycloak_env(), tmp_path / "keycloak.log").start()
        processes.append(keycloak)

        envs = {service: service_env(settings[service], tmp_path, **auth_env) for service in SERVICES}
        with ThreadPoolExecutor(len(SERVICES)) as pool:  # side by side: each start waits on a slow fork
            started = dict(zip(SERVICES, pool.map(
                lambda service: start_api_patiently(service, envs[service], tmp_path, timeout_s=180), SERVICES)))
        processes += [process for process, _ in started.values()]
        apis = {service: base for service, (_, base) in started.items()}
        portal_env = service_env(portal_settings, tmp_path, **auth_env, PORTAL_OIDC_CLIENT_SECRET="browser-secret",
                                 **{f"{s.upper()}_URL": apis[s] for s in SERVICES})
        # the portal has nothing to migrate (its sessions are keyed by `_id`; no topics): mark it done
        processes_module._MIGRATED.add(("portal", portal_env.get("MONGO_URL"), portal_env.get("MONGO_DATABASE"),
                                        portal_env.get("KAFKA_BOOTSTRAP_SERVERS"), portal_env.get("KAFKA_TOPIC_PREFIX")))
        portal_process, portal = start_api_patiently("portal", portal_env, tmp_path, timeout_s=180)
        processes.append(portal_process)
        for service in SERVICES:
            extra = dict(SMTP_URL=smtp.url, NOTIFICATIONS_APP_URL=portal, NOTIFICATIONS_RETRY_BASE_S="1") \
                if service == "notifications" else {}
            processes.append(start_worker(service, dict(envs[service], **extra), tmp_path))

        # the HRIS describes the test's people to every service
        hris_file = tmp_path / "hris.jsonl"
        hris_file.write_text("".join(hris))
        from shared.cli import load_hris

        load_hris(str(hris_file), settings["matching"])
        _wait(f"{issuer}/.well-known/openid-configuration", 360, keycloak)
        from shared.mongo import database_for

        deadline = time.monotonic() + 120
        for service, collection in (("matching", "participants"), ("sessions", "participants"),
                                    ("notifications", "people")):
            db = database_for(settings[service])
            while db[collection].count_documents({}) < len(wanted):
                assert time.monotonic() < deadline, f"{service} did not apply the HRIS records"
                time.sleep(0.5)
        yield Stack(portal=portal, apis=apis, smtp=smtp, people=people, enrolments=enrolments, settings=settings, logs=tmp_path,
                    processes=processes)
    finally:
        for process in reversed(processes):
            process.stop()
        smtp.stop()
