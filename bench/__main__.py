"""`make bench`: every benchmark, each figure beside a baseline measured in the same run.

Prints one table and writes bench/results/summary.json. Nothing here is a pass/fail assertion.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from shared.config import act_as_local_kafka_admin
from bench import (
    bench_audit, bench_backbone, bench_e2e, bench_enrolment, bench_http, bench_matching, bench_notifications, bench_portal,
    bench_rebuild, bench_run_proposals, bench_unhandled,
)

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ["store", "ingest", "matching", "http", "e2e", "rebuild", "portal", "notifications", "enrolment", "audit",
              "unhandled", "proposals"]
ORG = Path(os.environ.get("ORG_DATA", ROOT.parent / "shared" / "data" / "org-20k"))


def main() -> None:
    act_as_local_kafka_admin()  # the benchmarks use the project's broker as its super user (shared/kafka_access.py)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "summary.json"))
    parser.add_argument("--hris-limit", type=int, default=None, help="ingest only the first N HRIS records")
    parser.add_argument("--only", nargs="*", default=None,
                        choices=BENCHMARKS, metavar="NAME", help="run only these: " + " ".join(BENCHMARKS))
    args = parser.parse_args()
    wanted = set(args.only or BENCHMARKS)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    if "store" in wanted:
        rows += bench_backbone.bench_event_store()
    if "ingest" in wanted:
        rows += bench_backbone.bench_hris_ingest(ORG / "hris-employees.jsonl", limit=args.hris_limit)
    if "matching" in wanted:
        rows += _matching_rows(bench_matching.run(str(out.parent / "matching.json"), data_dir=ORG))
    if "http" in wanted:
        rows += bench_http.run()
    if "e2e" in wanted:
        rows += bench_e2e.run()
    if "rebuild" in wanted:
        rows += bench_rebuild.run()
    if "portal" in wanted:
        # page render vs the same page's API calls made directly, org-20k loaded (issue 14: p95 <= 150 ms)
        rows += bench_portal.run()
    if "notifications" in wanted:
        # one worker's emails/s into a local SMTP server vs a raw smtplib loop (issue 16: >= 500/s, >= 0.5x)
        rows += bench_notifications.run()
    if "enrolment" in wanted:
        # org-20k's 12,500 enrolments in one bulk request (issue 16: <= 60 s), single enrolment p95 beside it
        rows += bench_enrolment.run()
    if "audit" in wanted:
        # GET /v1/audit at 20,000 entries, keyed layout vs find().sort() (issue 16), and a write's cost
        rows += bench_audit.run()
    if "unhandled" in wanted:
        # matching's worker over 20,000 sessions events it reads past (issue 13), vs decoding them all
        rows += bench_unhandled.run()
    if "proposals" in wanted:
        # a run's proposals into the views: batched vs one by one vs before the pairing index (issue 16)
        rows += bench_run_proposals.run()
    out.write_text(json.dumps(rows, indent=2))
    _print(rows)
    print(f"\nwritten to {out}")


def _matching_rows(result: dict) -> list[dict]:
    rows = _cohort_rows("org-20k", result)
    # the 100,000-employee organisation's cohort (40,000 mentees) only with BENCH_MATCHING_100K=1: its
    # data is generated on first use and the four runs plus two child processes take minutes
    if result.get("org_100k"):
        rows += _cohort_rows("100k org (40k mentees)", result["org_100k"])
    return rows


def _cohort_rows(label: str, result: dict) -> list[dict]:
    exact, greedy = result["methods"]["exact"], result["methods"]["greedy"]
    return [
        {"benchmark": f"matching {label}: total score", "unit": "score", "value": exact["total_score"],
         "baseline": "greedy (best score first)", "baseline_value": greedy["total_score"],
         "ratio": round(exact["total_score"] / greedy["total_score"], 4)},
        {"benchmark": f"matching {label}: matched mentees", "unit": "mentees", "value": exact["matched"],
         "baseline": "greedy", "baseline_value": greedy["matched"], "ratio": round(exact["matched"] / greedy["matched"], 4)},
        {"benchmark": f"matching {label}: wall time", "unit": "s", "value": exact["seconds"], "baseline": "greedy",
         "baseline_value": greedy["seconds"], "ratio": round(exact["seconds"] / greedy["seconds"], 3)},
        {"benchmark": f"matching {label}: peak traced memory", "unit": "MiB", "value": exact["peak_mib_tracemalloc"],
         "baseline": "greedy", "baseline_value": greedy["peak_mib_tracemalloc"],
         "ratio": round(exact["peak_mib_tracemalloc"] / greedy["peak_mib_tracemalloc"], 3)},
        {"benchmark": f"matching {label}: peak RSS (fresh process)", "unit": "MiB", "value": exact["peak_rss_mib_child"],
         "baseline": "greedy", "baseline_value": greedy["peak_rss_mib_child"],
         "ratio": round(exact["peak_rss_mib_child"] / greedy["peak_rss_mib_child"], 3),
         "note": f"VmHWM of a process that loaded the cohort ({exact['rss_loaded_mib_child']} MiB once "
                 f"loaded) and ran the method once; issue 16: org-20k <= 512 MiB, 100k <= 4 GiB"},
    ]


def _print(rows: list[dict]) -> None:
    header = f"{'benchmark':58} {'value':>12} {'unit':>9}   {'baseline':38} {'baseline':>12} {'ratio':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['benchmark'][:58]:58} {row['value']!s:>12} {row['unit']:>9}   {row['baseline'][:38]:38} "
              f"{row['baseline_value']!s:>12} {row['ratio']!s:>8}")
    notes = [f"- {row['benchmark']}: {row['note']}" for row in rows if row.get("note")]
    if notes:
        print("\n" + "\n".join(notes))


if __name__ == "__main__":
    main()
