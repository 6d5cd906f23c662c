"""Prometheus config, alert rules and their unit tests, the k8s PrometheusRule
and the Grafana dashboard (issue 7).  Needs `promtool` (Debian: prometheus)."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from ._tools import DEPLOY, METRICS, QUERYABLE, ROOT, promql_metric_names, require_tool, run

PROM = DEPLOY / "prometheus"
PROMTOOL_HINT = "apt-get install -y prometheus (ships promtool)"
EXPECTED_ALERTS = {
    "MentoringTargetDown", "MentoringHttpErrorRatioHigh", "MentoringConsumerLagHigh",
    "MentoringDeadLettersGrowing", "MentoringRelayBacklogHigh", "MentoringConsumerPartitionPaused", "MentoringPairsAtRiskHigh",
    "MentoringAuditWritesFailing", "MentoringErasureOverdue",
}


def _alerts() -> dict:
    return yaml.safe_load((PROM / "alerts.yml").read_text())


def _rules() -> list[dict]:
    return [r for g in _alerts()["groups"] for r in g["rules"]]


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_tool("promtool", PROMTOOL_HINT)


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus.compose.yml"])
def test_promtool_check_config(promtool, config):
    res = run([promtool, "check", "config", str(PROM / config)])
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_check_rules(promtool):
    res = run([promtool, "check", "rules", str(PROM / "alerts.yml")])
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_rule_unit_tests(promtool):
    res = run([promtool, "test", "rules", str(PROM / "alerts_test.yml")])
    assert res.returncode == 0, res.stdout + res.stderr


def test_local_scrape_config_has_the_nine_jobs():
    cfg = yaml.safe_load((PROM / "prometheus.yml").read_text())
    assert cfg["global"]["scrape_interval"] == "5s"
    assert cfg["rule_files"] == ["alerts.yml"]
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    expected = {}
    for i, svc in enumerate(["matching", "sessions", "feedback", "notifications"]):
        expected[f"{svc}-api"] = (f"127.0.0.1:{8001 + i}", svc)
        expected[f"{svc}-worker"] = (f"127.0.0.1:{9101 + i}", svc)
    expected["portal-api"] = ("127.0.0.1:8080", "portal")  # scripts/procfile.py PORTAL_PORT
    assert set(jobs) == set(expected)
    for name, (target, svc) in expected.items():
        (static,) = jobs[name]["static_configs"]
        assert static["targets"] == [target], name
        assert static["labels"]["service"] == svc, name
    compose = {j["job_name"]: j for j in yaml.safe_load((PROM / "prometheus.compose.yml").read_text())["scrape_configs"]}
    assert set(compose) == set(expected)
    # the web app runs in compose only with its profile: found by DNS, so no target (no alarm) without it
    (dns,) = compose["portal-api"]["dns_sd_configs"]
    assert (dns["names"], dns["type"], dns["port"]) == (["portal"], "A", 8000)
    assert {r["target_label"]: r["replacement"] for r in compose["portal-api"]["relabel_configs"]} == {
        "service": "portal", "component": "api"}


def test_target_down_covers_every_scraped_job_of_ours():
    """The web app included: in Kubernetes its ServiceMonitor's job is `portal-api`, as here."""
    (rule,) = [r for r in _rules() if r["alert"] == "MentoringTargetDown"]
    pattern = re.search(r'job=~"([^"]+)"', rule["expr"]).group(1)
    jobs = {j["job_name"] for j in yaml.safe_load((PROM / "prometheus.yml").read_text())["scrape_configs"]}
    assert jobs and all(re.fullmatch(pattern, job) for job in jobs), jobs
    assert not re.fullmatch(pattern, "node")


def test_every_alert_has_severity_annotations_and_runbook():
    rules = _rules()
    assert {r["alert"] for r in rules} == EXPECTED_ALERTS
    for r in rules:
        assert r["labels"]["severity"] in {"critical", "warning", "info"}, r["alert"]
        for key in ("summary", "description", "runbook"):
            assert r["annotations"].get(key, "").strip(), f"{r['alert']} lacks annotation {key}"


def test_every_alert_is_unit_tested_firing_and_not_firing():
    tests = yaml.safe_load((PROM / "alerts_test.yml").read_text())["tests"]
    fired, quiet = set(), set()
    for t in tests:
        for case in t.get("alert_rule_test", []):
            (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert EXPECTED_ALERTS <= fired, f"never tested firing: {EXPECTED_ALERTS - fired}"
    assert EXPECTED_ALERTS <= quiet, f"never tested quiet: {EXPECTED_ALERTS - quiet}"


def test_alert_expressions_use_only_contract_metrics():
    for r in _rules():
        unknown = promql_metric_names(r["expr"]) - QUERYABLE
        assert not unknown, f"{r['alert']} queries metrics outside the contract: {unknown}"


def test_k8s_prometheus_rule_matches_alerts_yml():
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "base" / "prometheus-rules.yaml").read_text()))
    (rule,) = [d for d in docs if d and d.get("kind") == "PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == _alerts()["groups"], (
        "deploy/k8s/base/prometheus-rules.yaml differs from deploy/prometheus/alerts.yml: "
        "run python deploy/k8s/generate.py")


def test_generated_files_are_up_to_date():
    for script in ("deploy/k8s/generate.py", "deploy/grafana/build_dashboard.py"):
        res = subprocess.run([sys.executable, script, "--check"], cwd=ROOT, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr


def _dashboard() -> dict:
    return json.loads((DEPLOY / "grafana" / "mentoring-dashboard.json").read_text())


def _panels(d: dict):
    for p in d["panels"]:
        yield p
        yield from p.get("panels", [])


def test_dashboard_is_a_grafana_dashboard():
    d = _dashboard()
    for key in ("title", "uid", "schemaVersion", "panels", "templating", "time"):
        assert key in d, key
    ids = [p["id"] for p in _panels(d)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for p in _panels(d):
        assert {"x", "y", "w", "h"} <= set(p["gridPos"]), p["title"]
        assert 0 <= p["gridPos"]["x"] and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p["targets"], f"panel {p['title']!r} has no query"
            for t in p["targets"]:
                assert t["expr"].strip() and t["refId"], p["title"]


def _dashboard_exprs(d: dict) -> list[str]:
    exprs = [t["expr"] for p in _panels(d) for t in p.get("targets", [])]
    for v in d["templating"]["list"]:
        q = v.get("query")
        if isinstance(q, dict) and "label_values(" in q.get("query", ""):
            exprs.append(q["query"].split("(", 1)[1].split(",")[0])
    return exprs


def test_dashboard_queries_only_contract_metrics():
    for expr in _dashboard_exprs(_dashboard()):
        unknown = promql_metric_names(expr) - QUERYABLE
        assert not unknown, f"dashboard query uses metrics outside the contract: {unknown} in {expr}"


def test_dashboard_covers_every_contract_metric():
    used = set()
    for expr in _dashboard_exprs(_dashboard()):
        used |= promql_metric_names(expr)
    for name, kind in METRICS.items():
        series = {f"{name}_bucket", f"{name}_count", f"{name}_sum"} if kind == "histogram" else {name}
        assert used & series, f"no dashboard panel shows {name}"


@pytest.mark.parametrize("expr, expected", [
    ('sum by (service) (rate(http_request_duration_seconds_count{status=~"5.."}[5m]))',
     {"http_request_duration_seconds_count"}),
    ("max by (cohort_id) (mentoring_pairs_at_risk) / max by (cohort_id) (mentoring_pairings_active) > 0.25",
     {"mentoring_pairs_at_risk", "mentoring_pairings_active"}),
    ("histogram_quantile(0.99, sum by (le) (rate(bogus_seconds_bucket[$__rate_interval])))", {"bogus_seconds_bucket"}),
    ("increase(mentoring_dead_letters_total[15m]) > 0 and on (cohort_id) up", {"mentoring_dead_letters_total", "up"}),
])
def test_metric_name_extraction(expr, expected):
    # The contract checks above are only as good as this extractor.
    assert promql_metric_names(expr) == expected
