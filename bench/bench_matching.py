"""Benchmark: exact matching (LAPJVsp + dual verification) vs the greedy baseline on org-20k.

Usage: python bench/bench_matching.py [--data DIR] [--out bench/results/matching.json]

Peak memory is measured with tracemalloc (peak of Python + NumPy allocations traced during the
run of each method, which covers numpy arrays; SciPy's C++ internals allocating outside the
Python allocator are not traced) and, for the whole process, resource.getrusage ru_maxrss.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
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
    _Problem,

)
from services.matching.domain.rules import MatchingRules  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("ORG20K_DIR", "/work/shared/data/org-20k"))
DEFAULT_OUT = ROOT / "bench" / "results" / "matching.json"


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
        for line in fh:
            if not line.strip():
                continue
            r = json.loads(line)
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
                ))
    return mentors, mentees
