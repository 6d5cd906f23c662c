"""Helpers shared by the deploy tests."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

SERVICES = ["matching", "sessions", "feedback", "notifications"]
# The web app: an API process only (no worker, no migrate step), deployed from the same image.
PORTAL = "portal"
# Every deployable and the roles (processes) it runs.
ROLES = {**{svc: ("api", "worker") for svc in SERVICES}, PORTAL: ("api",)}
PROCESSES = [(svc, role) for svc, roles in ROLES.items() for role in roles]
CONTRACT_TOPICS = [
    "hris.employees.v1",
    "mentoring.matching.v1",
    "mentoring.sessions.v1",
    "mentoring.feedback.v1",
    "mentoring.notifications.v1",
]

# The fixed metric contract (name -> type).
METRICS = {
    "http_request_duration_seconds": "histogram",
    "mentoring_events_published_total": "counter",
    "mentoring_events_consumed_total": "counter",
    "mentoring_dead_letters_total": "counter",
    "mentoring_relay_backlog": "gauge",
    "mentoring_consumer_lag": "gauge",
    "mentoring_consumer_partition_paused": "gauge",
    "mentoring_projection_checkpoint_lag": "gauge",
    "mentoring_projection_staleness_seconds": "gauge",
    "mentoring_pairings_active": "gauge",
    "mentoring_pairs_at_risk": "gauge",
    "mentoring_matching_run_duration_seconds": "histogram",
    "mentoring_matching_matched_ratio": "gauge",
    "mentoring_notification_deliveries_total": "counter",
    "mentoring_audit_entries_total": "counter",  # issue 12: the audit trail, by action and outcome
    "mentoring_erasures_pending": "gauge",  # issue 13: erasures a service has not completed, by `waiting_on`
    "mentoring_erasures_overdue": "gauge",  # ... of those, past ERASURE_OVERDUE_S (alert MentoringErasureOverdue)
}
# Series a query may name: gauges and counters as such, histograms through
# their _bucket/_count/_sum series; `up` is Prometheus's own.
QUERYABLE = {"up"}
for _name, _type in METRICS.items():
    if _type == "histogram":
        QUERYABLE |= {f"{_name}_bucket", f"{_name}_count", f"{_name}_sum"}
    else:
        QUERYABLE.add(_name)


def require_tool(name: str, hint: str) -> str:
    """Path of a CLI the deploy checks need; a missing one FAILS the test (CI installs it)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH; the deploy checks need it. Install it: {hint}", pytrace=False)
    return path


def run(cmd: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


_PROMQL_WORDS = {
    # functions
    "abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
    "count_over_time", "delta", "deriv", "exp", "floor", "histogram_quantile", "idelta", "increase", "irate",
    "label_join", "label_replace", "last_over_time", "ln", "log2", "log10", "max_over_time", "min_over_time",
    "predict_linear", "present_over_time", "quantile_over_time", "rate", "resets", "round", "scalar", "sort",
    "sort_desc", "sqrt", "stddev_over_time", "sum_over_time", "time", "timestamp", "vector",
    # aggregations and keywords
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool",
    "inf", "nan",
}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (lexical, good enough for our queries)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)   # string literals
    s = re.sub(r"\{[^}]*\}", " ", s)                                     # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)                                    # range / subquery windows
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)  # label lists
    s = re.sub(r"\$\{?\w+\}?", " ", s)                                   # Grafana variables
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w.])", s):
        word = m.group(1)
        rest = s[m.end():].lstrip()
        if word.lower() in _PROMQL_WORDS or (rest.startswith("(") and word.lower() in _PROMQL_WORDS):
            continue
        if re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names
