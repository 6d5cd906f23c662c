"""Benchmark: exact matching (LAPJVsp + dual proof of optimality) vs the greedy baseline.

Usage: python bench/bench_matching.py [--data DIR] [--out bench/results/matching.json] [--org-100k]

Two cohorts: org-20k (10,000 mentees, 2,500 mentors) and, with ``--org-100k`` or
``BENCH_MATCHING_100K=1`` (``make bench`` passes it through), the cohort of a 100,000-employee
organisation (40,000 mentees, 10,000 mentors) written by ``scripts/gen_org.py --employees 100000
--seed 1`` into bench/results/data/ (generated once, deterministic).  It is off by default because
it takes several minutes on a busy 2-core machine.

Wall time: time.perf_counter around an untraced run of each method (after loading the data).
Peak memory, two ways: tracemalloc peak of a second, traced run of each method in this process
(Python and NumPy allocations; SciPy's compiled internals allocating outside the Python allocator
are not traced), and the peak RSS of a fresh child process per method (``--rss-child``) that loads
the cohort and runs that method once: the kernel's high-water mark (VmHWM) reset after loading,
so the peak of the process while it matches (the loaded candidates included), what the issue's
memory targets are about (org-20k exact <= 512 MiB, the 100k cohort <= 4 GiB); beside it the
child's RSS once loaded, its peak while loading (ru_maxrss then) and its own wall time.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.matching.domain.assignment import (  # noqa: E402
    MenteeCandidate,
    MentorCandidate,
    assign,
    goal_topics,
    greedy_assignment,
    topic_key,

)
from services.matching.domain.rules import MatchingRules  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("ORG20K_DIR", "/work/shared/data/org-20k"))
DEFAULT_OUT = ROOT / "bench" / "results" / "matching.json"
ORG_100K = dict(employees=100_000, seed=1)  # 40,000 mentees, 10,000 mentors
ORG_100K_DIR = ROOT / "bench" / "results" / "data" / "org-100000-s1"


def management_chains(employees: dict[str, dict]) -> dict[str, list[str]]:
    """employee_id -> ancestors (nearest manager first), built from manager_id."""
    chains: dict[str, list[str]] = {}

    def chain_of(eid: str) -> list[str]:
        if eid in chains:
            return chains[eid]
        path, seen, cur = [], {eid}, employees.get(eid, {}).get("manager_id")
        while cur and cur not in seen:
            if cur in chains:
                path.extend([cur, *chains[cur]])
                break
            path.append(cur)
            seen.add(cur)
            cur = employees.get(cur, {}).get("manager_id")
        chains[eid] = path
        return path

    for eid in employees:
        chain_of(eid)
    return chains


def load(data_dir: Path = DEFAULT_DATA):
    employees: dict[str, dict] = {}
    with open(data_dir / "hris-employees.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                d = json.loads(line)["data"]
                employees[d["employee_id"]] = d
    chains = management_chains(employees)
    mentors, mentees = [], []
    with open(data_dir / "cohort-enrollments.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    # as the service builds candidates (application/inputs.py): a goals summary reduced to the topic
    # keys the mentors offer and the mentee lists
    offered = {topic_key(t) for r in rows if r["role"] == "mentor"
               for t in (*(r.get("topics") or ()), *(employees[r["employee_id"]].get("skills") or ()))}
    for r in rows:
        emp = employees[r["employee_id"]]
        prefs = r.get("preferences") or {}
        common = dict(
            employee_id=r["employee_id"],
            level=int(emp["level"]),
            timezone=emp["timezone"],
            department=emp["department"],
            management_chain=tuple(chains.get(r["employee_id"], ())),
            topics=tuple(r.get("topics") or ()),
            exclude=tuple(prefs.get("exclude") or ()),
            active=bool(emp.get("active", True)),
        )
        if r["role"] == "mentor":
            mentors.append(MentorCandidate(
                **common,
                languages=tuple(emp.get("languages") or ()),
                skills=tuple(emp.get("skills") or ()),
                capacity=int(r.get("capacity") or 1),
            ))
        else:
            # a mentee's language preference narrows the languages the mentoring may use
            mentees.append(MenteeCandidate(
                **common,
                languages=tuple(prefs.get("languages") or emp.get("languages") or ()),
                preferred_mentors=tuple(prefs.get("preferred_mentors") or ()),
                goal_topics=goal_topics(r.get("goals_summary"),
                                        offered | {topic_key(t) for t in r.get("topics") or ()}),
            ))
    return mentors, mentees


METHODS = {"greedy": greedy_assignment, "exact": assign}


def _max_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def _proc_status_mib(field: str) -> float:
    status = Path("/proc/self/status").read_text()
    return round(int(status.split(f"{field}:", 1)[1].split()[0]) / 1024, 1)  # kB


def rss_child(method: str, data_dir: Path) -> dict:
    """In a fresh process: load the cohort, run one method once.  Its peak RSS during the method:
    Linux's high-water mark (VmHWM), reset after loading (clear_refs 5, which resets ru_maxrss
    too) so that parsing the JSON files does not hide it; the loading's own peak beside it."""
    mentors, mentees = load(data_dir)
    loading_peak = _max_rss_mib()
    gc.collect()
    loaded = _proc_status_mib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    t0 = time.perf_counter()
    METHODS[method](mentors, mentees, MatchingRules())
    return {"seconds": round(time.perf_counter() - t0, 3), "rss_loaded_mib": loaded,
            "peak_rss_mib": _proc_status_mib("VmHWM"), "loading_peak_rss_mib": loading_peak}


def _child_rss(method: str, data_dir: Path) -> dict:
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--rss-child", method,
                           "--data", str(data_dir)], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure(fn, *args, **kwargs):
    """Wall time of an untraced run, then tracemalloc peak of a second, traced run (tracing
    slows allocation-heavy code, so it must not be inside the timed run)."""
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    seconds = time.perf_counter() - t0
    tracemalloc.start()
    fn(*args, **kwargs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def measure_cohort(data_dir: Path) -> dict:
    """Greedy and exact over one cohort, in this process: figures, and ratios exact / greedy."""
    t0 = time.perf_counter()
    mentors, mentees = load(Path(data_dir))
    load_s = time.perf_counter() - t0
    rules = MatchingRules()
    rows = {}
    for name, fn in METHODS.items():
        res, secs, peak = _measure(fn, mentors, mentees, rules)
        child = _child_rss(name, Path(data_dir))
        rows[name] = {
            "matched": res.totals.matched,
            "total_score": res.totals.total_score,
            "mean_score": res.totals.mean_score,
            "seconds": round(secs, 3),
            "peak_mib_tracemalloc": round(peak, 1),
            "peak_rss_mib_child": child["peak_rss_mib"],
            "rss_loaded_mib_child": child["rss_loaded_mib"],
            "loading_peak_rss_mib_child": child["loading_peak_rss_mib"],
            "seconds_child": child["seconds"],
            "input_hash": res.input_hash,
            "stats": {k: v for k, v in res.stats.items()},
        }
    g, x = rows["greedy"], rows["exact"]
    return {
        "data": str(data_dir),
        "mentors": len(mentors),
        "mentees": len(mentees),
        "seats": sum(m.free_seats for m in mentors),
        "load_seconds": round(load_s, 3),
        "methods": rows,
        "ratios_vs_greedy": {
            "total_score": round(x["total_score"] / g["total_score"], 5) if g["total_score"] else None,
            "matched": round(x["matched"] / g["matched"], 5) if g["matched"] else None,
            "seconds": round(x["seconds"] / g["seconds"], 3) if g["seconds"] else None,
            "peak_mib": round(x["peak_mib_tracemalloc"] / g["peak_mib_tracemalloc"], 3)
            if g["peak_mib_tracemalloc"] else None,
            "peak_rss_mib": round(x["peak_rss_mib_child"] / g["peak_rss_mib_child"], 3),
        },
        "process_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def org_100k_dir() -> Path:
    """The 100,000-employee organisation, generated on first use (scripts/gen_org.py)."""
    if not (ORG_100K_DIR / "cohort-enrollments.jsonl").exists():
        from scripts.gen_org import generate

        generate(ORG_100K_DIR, ORG_100K["employees"], ORG_100K["seed"])
    return ORG_100K_DIR


def with_org_100k() -> bool:
    return os.environ.get("BENCH_MATCHING_100K", "") not in ("", "0")


def run(out_path: str | os.PathLike | None = DEFAULT_OUT, data_dir: str | os.PathLike = DEFAULT_DATA,
        org_100k: bool | None = None) -> dict:
    """Greedy and exact on org-20k (and the 100k organisation's cohort when asked), in this
    process; write and return the JSON results (org-20k's at the top level, as before)."""
    out = measure_cohort(Path(data_dir))
    if with_org_100k() if org_100k is None else org_100k:
        out["org_100k"] = measure_cohort(org_100k_dir())
    out["memory_note"] = ("peak_mib_tracemalloc = tracemalloc peak during that method (Python and "
                          "NumPy allocations); peak_rss_mib_child = peak RSS (VmHWM, reset after "
                          "loading) of a fresh process that loaded the cohort (its RSS then: "
                          "rss_loaded_mib_child) and ran that method once (seconds_child); "
                          "loading_peak_rss_mib_child = that process's peak while loading (ru_maxrss); "
                          "process_max_rss_mib = getrusage ru_maxrss of this whole process so far")
    out["cpu_count"] = os.cpu_count()
    if out_path:
        p = Path(out_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--org-100k", action="store_true", help="also the 100,000-employee organisation's cohort")
    ap.add_argument("--rss-child", choices=sorted(METHODS), help=argparse.SUPPRESS)  # see _child_rss
    args = ap.parse_args(argv)
    if args.rss_child:
        print(json.dumps(rss_child(args.rss_child, Path(args.data))))
        return 0
    out = run(args.out, args.data, org_100k=args.org_100k or None)
    for label, res in (("org-20k", out), ("org-100k", out.get("org_100k"))):
        if not res:
            continue
        print(f"{label}: {res['mentees']} mentees, {res['mentors']} mentors, {res['seats']} seats")
        print(f"{'method':<8} {'matched':>8} {'total score':>12} {'seconds':>8} {'peak MiB':>9} "
              f"{'peak RSS':>9} {'(loaded)':>9}")
        for name, r in res["methods"].items():
            print(f"{name:<8} {r['matched']:>8} {r['total_score']:>12.4f} {r['seconds']:>8.3f} "
                  f"{r['peak_mib_tracemalloc']:>9.1f} {r['peak_rss_mib_child']:>9.1f} "
                  f"{r['rss_loaded_mib_child']:>9.1f}")
        rt = res["ratios_vs_greedy"]
        print(f"exact/greedy: total score x{rt['total_score']}, matched x{rt['matched']}, "
              f"time x{rt['seconds']}, peak memory x{rt['peak_mib']} (traced), x{rt['peak_rss_mib']} (RSS)")
    print("peak MiB = tracemalloc in this process; peak RSS = VmHWM of a fresh process per method while it "
          "ran (loaded: its RSS after loading the cohort, before the method)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
