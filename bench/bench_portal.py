"""The web app's server-side page render, beside the same page's API calls made directly.

The four APIs run as processes over their own databases with the org-20k HRIS load applied (every
profile the pages look up is one of 20,000); a cohort of BENCH_PORTAL_ENROLMENTS people is
matched and accepted. The portal runs in this process (Flask's test client, a real HTTP backend
to the APIs) signed in with a development token, so the figure is the portal's own render: its
API calls, their JSON, Jinja2. The baseline is the same calls made one after another with
`requests`. Issue 14's bar: page render p95 <= 150 ms.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import requests

from bench.harness import drop, isolated_settings, new_run, percentiles
from shared.cli import load_hris
from shared.http.auth import mint_token
from shared.mongo import database_for
from tests.e2e.processes import ORG_DATA, service_env, start_api, start_worker

SERVICES = ("matching", "sessions", "feedback", "notifications")
ADMIN = "E000001"
ENROLMENTS = int(os.environ.get("BENCH_PORTAL_ENROLMENTS", "200"))
REQUESTS = int(os.environ.get("BENCH_PORTAL_REQUESTS", "60"))


class _TokenOidc:
    """Sign-in without an IdP: a development token for whoever the bench names."""

    def __init__(self, secret: str):
        self.secret, self.subject, self.roles = secret, ADMIN, ["admin", "participant"]

    def authorize_redirect(self, redirect_uri, **kwargs):
        from flask import redirect

        return redirect(redirect_uri)

    def authorize_access_token(self):
        return {"access_token": mint_token(self.secret, self.subject, self.roles), "expires_in": 3600}

    def refresh(self, refresh_token):
        raise RuntimeError("no refresh in the benchmark")

    def logout_url(self, id_token, after):
        return None


def _client(app, oidc, subject, roles):
    oidc.subject, oidc.roles = subject, roles
    client = app.test_client()
    client.get("/login")
    client.get("/auth/callback?code=bench")
    return client


def _time(call, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def _wait_for_participants(participants, hris: Path, timeout_s: float = 900) -> None:
    """Until the matching worker has projected the whole HRIS load: the file's last 50 employees
    are there (records are keyed by employee id, so every partition's last one is among them).
    Found by `_id`, the one look-up FerretDB answers from an index: counting a collection that is
    being written can take longer than a socket timeout on a busy machine."""
    with open(hris) as lines:
        last = [json.loads(line)["data"]["employee_id"] for line in list(lines)[-50:]]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(participants.find_one({"_id": employee_id}, {"_id": 1}) for employee_id in last):
            return
        time.sleep(2)
    raise TimeoutError("the HRIS load was not projected in time")


def run() -> list[dict]:
    from services.portal.api import create_app

    run_id = new_run()
    settings = {s: isolated_settings(s, run_id) for s in SERVICES}
    workdir = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    envs = {s: service_env(settings[s], workdir, MENTORING_ENV="development") for s in SERVICES}
    processes, bases = [], {}
    try:
        for service in SERVICES:
            process, bases[service] = start_api(service, envs[service], workdir)
            processes += [process, start_worker(service, envs[service], workdir)]
        load_hris(str(ORG_DATA / "hris-employees.jsonl"), settings["matching"])
        _wait_for_participants(database_for(settings["matching"])["participants"], ORG_DATA / "hris-employees.jsonl")
        secret = settings["matching"].jwt_secret
        admin = requests.Session()
        admin.headers["Authorization"] = f"Bearer {mint_token(secret, ADMIN, ['admin', 'participant'])}"
        m = bases["matching"]
        program = admin.post(f"{m}/v1/programs", json={"name": "Bench"}, timeout=30).json()["program_id"]
        cohort = admin.post(f"{m}/v1/programs/{program}/cohorts", json={
            "name": "Bench cohort", "starts_on": "2026-01-01", "ends_on": "2027-12-31"}, timeout=30).json()["cohort_id"]
        admin.post(f"{m}/v1/cohorts/{cohort}/status", json={"status": "enrolling"}, timeout=30)
        with open(ORG_DATA / "cohort-enrollments.jsonl") as lines:
            for line in list(lines)[:ENROLMENTS]:
                admin.post(f"{m}/v1/cohorts/{cohort}/enrollments", json=json.loads(line), timeout=30)
        admin.post(f"{m}/v1/cohorts/{cohort}/status", json={"status": "matching"}, timeout=30)
        started = admin.post(f"{m}/v1/cohorts/{cohort}/matching-runs", json={}, timeout=60).json()
        while started.get("status") == "running":
            time.sleep(1)
            started = admin.get(f"{m}/v1/matching-runs/{started['run_id']}", timeout=30).json()
        pairs = admin.get(f"{m}/v1/cohorts/{cohort}/pairings", params={"limit": 500}, timeout=30).json()["items"]
        for pair in pairs:
            for role in ("mentor", "mentee"):
                admin.post(f"{m}/v1/pairings/{pair['pairing_id']}/accept", json={"role": role}, timeout=30)
        mentee = pairs[0]["mentee_id"]

        portal_settings = isolated_settings("portal", run_id)
        from dataclasses import replace

        portal_settings = replace(portal_settings, environment="development", oidc_issuer="http://unused",
                                  service_urls=bases)
        from services.portal.sessions import MemoryStore

        oidc = _TokenOidc(secret)
        app = create_app(portal_settings, oidc=oidc, store=MemoryStore())
        person = requests.Session()
        person.headers["Authorization"] = f"Bearer {mint_token(secret, mentee, ['participant'])}"
        pages = {
            "participant home": (_client(app, oidc, mentee, ["participant"]), "/", person, [
                ("notifications", "/v1/me/notifications?limit=5&unread=true"), ("feedback", "/v1/me/reviews"),
                ("feedback", "/v1/me/surveys"), ("matching", f"/v1/participants/{mentee}"),
                ("matching", "/v1/programs?limit=500"), ("matching", f"/v1/programs/{program}/cohorts?limit=500"),
                ("matching", "/v1/me/pairings?limit=500"),
                ("sessions", f"/v1/pairings/{pairs[0]['pairing_id']}/meetings?limit=200")]),
            "cohort health": (_client(app, oidc, ADMIN, ["admin", "participant"]), f"/console/cohorts/{cohort}/health",
                              admin, [("matching", f"/v1/cohorts/{cohort}/stats"),
                                      ("sessions", f"/v1/cohorts/{cohort}/engagement"),
                                      ("feedback", f"/v1/cohorts/{cohort}/feedback/summary")]),
        }
        rows = []
        for name, (client, path, session, calls) in pages.items():
            assert client.get(path).status_code == 200, f"{name}: {path}"
            ours = percentiles(_time(lambda c=client, p=path: c.get(p), REQUESTS))
            direct = percentiles(_time(lambda h=session, cs=calls: [h.get(f"{bases[s]}{p}", timeout=30) for s, p in cs],
                                       REQUESTS))
            rows.append({"benchmark": f"portal render p95: {name} (org-20k, {len(pairs)} pairs)", "unit": "ms",
                         "value": round(ours["p95"] * 1000, 1), "baseline": "its API calls made directly, one by one",
                         "baseline_value": round(direct["p95"] * 1000, 1),
                         "ratio": round(ours["p95"] / direct["p95"], 2) if direct["p95"] else None})
        # Each page's calls timed alone, straight at its API: which one a slow page waits on.
        for page, (_, _, session, calls) in pages.items():
            for service, path in calls:
                url = f"{bases[service]}{path}"
                alone = percentiles(_time(lambda h=session, u=url: h.get(u, timeout=30), REQUESTS))
                shown = path.replace(cohort, "{id}").replace(program, "{id}").replace(mentee, "{id}").replace(
                    pairs[0]["pairing_id"], "{id}")
                rows.append({"benchmark": f"API call p95 ({page}): {service} {shown}", "unit": "ms",
                             "value": round(alone["p95"] * 1000, 1), "baseline": "its p50",
                             "baseline_value": round(alone["p50"] * 1000, 1),
                             "ratio": round(alone["p95"] / alone["p50"], 2) if alone["p50"] else None})
        return rows
    finally:
        for process in processes:
            process.stop()
        drop(*settings.values())
