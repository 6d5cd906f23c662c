#!/usr/bin/env python3
"""Build deploy/grafana/mentoring-dashboard.json (Grafana dashboard, schema 39).

    python deploy/grafana/build_dashboard.py          # rewrite the JSON
    python deploy/grafana/build_dashboard.py --check  # exit 1 if the JSON is out of date

Import the JSON in Grafana (Dashboards > New > Import) and pick the Prometheus
data source; every panel uses the ${datasource} variable.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).with_name("mentoring-dashboard.json")
DS = {"type": "prometheus", "uid": "${datasource}"}
SVC = 'service=~"$service"'

_next_id = 0


def _id() -> int:
    global _next_id
    _next_id += 1
    return _next_id


def target(expr: str, legend: str, ref: str) -> dict:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}


def panel(title: str, targets: list[tuple[str, str]], pos: tuple[int, int, int, int], unit: str = "short",
          description: str = "", kind: str = "timeseries", stack: bool = False) -> dict:
    x, y, w, h = pos
    p = {
        "id": _id(), "type": kind, "title": title, "description": description, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    }
    if kind == "timeseries":
        p["fieldConfig"]["defaults"]["custom"] = {
            "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
            "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
        p["options"] = {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
                        "tooltip": {"mode": "multi", "sort": "desc"}}
    return p


def row(title: str, y: int) -> dict:
    return {"id": _id(), "type": "row", "title": title, "collapsed": False,
            "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []}


def dashboard() -> dict:
    global _next_id
    _next_id = 0
    panels = [
        row("HTTP APIs", 0),
        panel("Request rate by service",
              [(f'sum by (service) (rate(http_request_duration_seconds_count{{{SVC}}}[$__rate_interval]))', "{{service}}")],
              (0, 1, 8, 8), "reqps"),
        panel("Latency p99 by service",
              [(f'histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket{{{SVC}}}[$__rate_interval])))',
                "{{service}} p99"),
               (f'histogram_quantile(0.50, sum by (service, le) (rate(http_request_duration_seconds_bucket{{{SVC}}}[$__rate_interval])))',
                "{{service}} p50")],
              (8, 1, 8, 8), "s"),
        panel("5xx error ratio by service",
              [(f'sum by (service) (rate(http_request_duration_seconds_count{{{SVC},status=~"5.."}}[$__rate_interval]))'
                f' / sum by (service) (rate(http_request_duration_seconds_count{{{SVC}}}[$__rate_interval]))', "{{service}}")],
              (16, 1, 8, 8), "percentunit", "Alert MentoringHttpErrorRatioHigh fires above 5% for 5m."),
        panel("Slowest routes (p99)",
              [('topk(10, histogram_quantile(0.99, sum by (service, route, method, le) '
                f'(rate(http_request_duration_seconds_bucket{{{SVC}}}[$__rate_interval]))))',
                "{{service}} {{method}} {{route}}")],
              (0, 9, 12, 8), "s"),
        panel("Targets up",
              [('up{job=~"(matching|sessions|feedback|notifications)-(api|worker)"}', "{{job}}")],
              (12, 9, 12, 8), "short", "1 = scraped, 0 = down (alert MentoringTargetDown).", kind="state-timeline"),

        row("Events", 17),
        panel("Events published by topic and outcome",
              [(f'sum by (service, topic, outcome) (rate(mentoring_events_published_total{{{SVC}}}[$__rate_interval]))',
                "{{service}} {{topic}} {{outcome}}")],
              (0, 18, 12, 8), "ops"),
        panel("Events consumed by group and outcome",
              [(f'sum by (group, outcome) (rate(mentoring_events_consumed_total{{{SVC}}}[$__rate_interval]))',
                "{{group}} {{outcome}}")],
              (12, 18, 12, 8), "ops", stack=True),
        panel("Dead letters (15m increase)",
              [(f'sum by (service, group, topic, reason) (increase(mentoring_dead_letters_total{{{SVC}}}[15m]))',
                "{{group}} {{topic}} {{reason}}")],
              (0, 26, 8, 8), "short", "Any value above 0 fires MentoringDeadLettersGrowing; inspect <topic>.dlq."),
        panel("Relay backlog (stored, not yet published)",
              [(f'max by (service) (mentoring_relay_backlog{{{SVC}}})', "{{service}}")],
              (8, 26, 8, 8), "short", "Alert MentoringRelayBacklogHigh above 100 for 5m."),
        panel("Consumer lag by group",
              [(f'sum by (service, group) (mentoring_consumer_lag{{{SVC}}})', "{{group}}")],
              (16, 26, 8, 8), "short", "Alert MentoringConsumerLagHigh above 1000 for 10m."),
        panel("Projection staleness",
              [(f'max by (service, group) (mentoring_projection_staleness_seconds{{{SVC}}})', "{{group}}")],
              (0, 34, 12, 8), "s", "Age of the newest event a projection has applied."),
        panel("Consumer lag by partition",
              [(f'max by (group, topic, partition) (mentoring_consumer_lag{{{SVC}}})', "{{group}} {{topic}}[{{partition}}]")],
              (12, 34, 12, 8), "short"),

        panel("Partitions stopped (not poison: a bug, MongoDB, a newer event version)",
              [(f'max by (service, group, topic, reason) (mentoring_consumer_partition_paused{{{SVC}}})',
                "{{group}} {{topic}} {{reason}}")],
              (0, 42, 12, 8), "short", "Alert MentoringConsumerPartitionPaused when 1 for 5m; topic \"store\" is a store projector."),
        panel("Store projectors: positions still to apply",
              [(f'max by (service, projector) (mentoring_projection_checkpoint_lag{{{SVC}}})', "{{projector}}")],
              (12, 42, 12, 8), "short", "Own-stream views behind the service's event store."),

        row("Programme", 50),
        panel("Active pairings by cohort",
              [('max by (cohort_id) (mentoring_pairings_active{cohort_id=~"$cohort"})', "{{cohort_id}}")],
              (0, 51, 8, 8), "short"),
        panel("Share of pairs at risk by cohort",
              [('max by (cohort_id) (mentoring_pairs_at_risk{cohort_id=~"$cohort"})'
                ' / max by (cohort_id) (mentoring_pairings_active{cohort_id=~"$cohort"} > 0)', "{{cohort_id}}")],
              (8, 51, 8, 8), "percentunit", "Alert MentoringPairsAtRiskHigh above 25% for 15m."),
        panel("Matched ratio of the last run by cohort",
              [('max by (cohort_id) (mentoring_matching_matched_ratio{cohort_id=~"$cohort"})', "{{cohort_id}}")],
              (16, 51, 8, 8), "percentunit"),
        panel("Matching run duration",
              [('histogram_quantile(0.99, sum by (le) (rate(mentoring_matching_run_duration_seconds_bucket[$__rate_interval])))', "p99"),
               ('sum(rate(mentoring_matching_run_duration_seconds_sum[$__rate_interval]))'
                ' / sum(rate(mentoring_matching_run_duration_seconds_count[$__rate_interval]))', "mean")],
              (0, 59, 12, 8), "s"),
        panel("Notification deliveries by channel and outcome",
              [('sum by (channel, outcome) (rate(mentoring_notification_deliveries_total[$__rate_interval]))',
                "{{channel}} {{outcome}}")],
              (12, 59, 12, 8), "ops", stack=True),

        row("Audit trail", 67),
        panel("Privileged and refused requests by action",
              [(f'sum by (service, action) (rate(mentoring_audit_entries_total{{{SVC},outcome="recorded"}}[$__rate_interval]))',
                "{{service}} {{action}}")],
              (0, 68, 16, 8), "reqps", "Every admin or programme-manager request and every 403, as GET /v1/audit lists them."),
        panel("Audit entries not written",
              [(f'sum by (service) (increase(mentoring_audit_entries_total{{{SVC},outcome="failed"}}[15m]))', "{{service}}")],
              (16, 68, 8, 8), "short", "Alert MentoringAuditWritesFailing above 0."),

        row("Privacy", 76),
        panel("Erasures pending, by the service still erasing",
              [('max by (waiting_on) (mentoring_erasures_pending)', "{{waiting_on}} pending"),
               ('max by (waiting_on) (mentoring_erasures_overdue)', "{{waiting_on}} overdue")],
              (0, 77, 24, 8), "short", "Requested erasures (GDPR Art. 17) a service has not completed yet; overdue: "
              "past ERASURE_OVERDUE_S (a minute). Alert MentoringErasureOverdue. GET /v1/privacy/erasures lists them."),
    ]
    return {
        "title": "Mentoring platform",
        "uid": "mentoring-platform",
        "description": "HTTP APIs, event flow (relay, consumers, dead letters) and programme health of the mentoring platform.",
        "tags": ["mentoring"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "timezone": "browser",
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "refresh": 1},
            {"name": "service", "label": "Service", "type": "query", "datasource": DS,
             "query": {"query": "label_values(http_request_duration_seconds_count, service)", "refId": "service"},
             "definition": "label_values(http_request_duration_seconds_count, service)",
             "includeAll": True, "multi": True, "allValue": ".*", "current": {}, "refresh": 2, "sort": 1},
            {"name": "cohort", "label": "Cohort", "type": "query", "datasource": DS,
             "query": {"query": "label_values(mentoring_pairings_active, cohort_id)", "refId": "cohort"},
             "definition": "label_values(mentoring_pairings_active, cohort_id)",
             "includeAll": True, "multi": True, "allValue": ".*", "current": {}, "refresh": 2, "sort": 1},
        ]},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python deploy/grafana/build_dashboard.py")
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
