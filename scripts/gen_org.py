"""A synthetic HRIS organisation and one mentoring cohort of it, shaped like ../shared/data/org-20k.

    python scripts/gen_org.py --employees 100000 --seed 1 --out bench/results/data/org-100k-s1

writes the same two files as org-20k, in the same record shapes:
- ``hris-employees.jsonl``: one ``EmployeeUpserted`` envelope per employee (managers first): a CEO, one
  vice president per department, then levels 8..2 each reporting to someone of the same department one
  (two thirds) or two levels up, the span following from how many such managers there are; location,
  time zone and local languages, department skills plus general ones, title, hire date;
- ``cohort-enrollments.jsonl``: ``--mentees`` mentees (default 40 % of the employees; levels 2..5,
  2-5 wanted topics) and ``--mentors`` mentors (default 10 %; levels >= 5, capacity 1..5, topics
  taken from their skills), in shuffled order, some with a time-zone or language preference.

Deterministic: one ``random.Random(seed)`` drives everything (ids, event ids, timestamps included), so
the same arguments write byte-identical files. Used by bench/bench_matching.py for the 100,000-employee
cohort (40,000 mentees, 10,000 mentors).
"""
from __future__ import annotations

import argparse
import json
import random
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

DEPARTMENTS = {  # share of the employees, department skills
    "Engineering": (0.30, ["code-review", "data-modeling", "distributed-systems", "frontend", "incident-response",
                           "kubernetes", "ml", "mobile", "python", "security", "system-design", "testing"]),
    "Sales": (0.16, ["account-planning", "enterprise-sales", "forecasting", "negotiation", "presentation", "pricing"]),
    "Customer Success": (0.10, ["account-planning", "customer-advocacy", "negotiation", "onboarding",
                                "presentation"]),
    "Product": (0.08, ["analytics", "pricing", "prioritization", "product-strategy", "roadmapping",
                       "user-research"]),
    "Data": (0.08, ["analytics", "data-modeling", "experimentation", "ml", "python", "sql", "statistics"]),
    "Marketing": (0.08, ["analytics", "brand", "content-strategy", "demand-generation", "presentation", "seo"]),
    "Finance": (0.05, ["accounting", "analytics", "compliance", "financial-planning", "forecasting", "pricing"]),
    "Operations": (0.05, ["forecasting", "process-improvement", "project-management", "risk-management",
                          "vendor-management"]),
    "Design": (0.04, ["accessibility", "design-systems", "prototyping", "user-research", "ux-design",
                      "visual-design"]),
    "People": (0.04, ["coaching", "compensation", "dei", "employee-relations", "recruiting", "talent-development"]),
    "Legal": (0.02, ["compliance", "contracts", "negotiation", "privacy", "risk-management"]),
}
GENERAL_SKILLS = ["career-planning", "communication", "conflict-resolution", "cross-functional-collaboration",
                  "executive-presence", "feedback", "hiring", "leadership", "mentoring", "people-management",
                  "public-speaking", "stakeholder-management", "strategic-thinking", "time-management"]
LOCATIONS = {  # time zone, local languages (besides English) and how many speak them
    "Berlin": ("Europe/Berlin", ["de"]), "Tokyo": ("Asia/Tokyo", ["ja"]), "Warsaw": ("Europe/Warsaw", ["pl"]),
    "Toronto": ("America/Toronto", ["fr"]), "Sydney": ("Australia/Sydney", []),
    "Sao Paulo": ("America/Sao_Paulo", ["pt", "es"]), "Singapore": ("Asia/Singapore", ["zh", "ms"]),
    "San Francisco": ("America/Los_Angeles", []), "New York": ("America/New_York", []),
    "London": ("Europe/London", []), "Bangalore": ("Asia/Kolkata", ["hi"]), "Dublin": ("Europe/Dublin", []),
}
OTHER_LANGUAGES = ["ar", "de", "es", "fr", "hi", "ja", "pt", "zh"]
# share of the employees per level below the vice presidents (org-20k's pyramid)
LEVEL_SHARES = {8: 0.0035, 7: 0.0135, 6: 0.05, 5: 0.177, 4: 0.2875, 3: 0.347, 2: 0.121}
TITLES = {10: "Chief", 9: "Vice President", 8: "Director", 7: "Senior Manager", 6: "Manager", 5: "Lead",
          4: "Senior Specialist", 3: "Specialist", 2: "Analyst"}
CAPACITY_WEIGHTS = {1: 13, 2: 28, 3: 30, 4: 14, 5: 15}
FIRST = ["Ada", "Ben", "Chen", "Dara", "Eli", "Felix", "Gita", "Hana", "Ivan", "Jon", "Kira", "Leo", "Maya", "Nia",
         "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Vik", "Wen", "Yara", "Zoe"]
LAST = ["Adeyemi", "Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski",
        "Li", "Moreau", "Nair", "Okafor", "Patel", "Rossi", "Sato", "Tanaka", "Ivanova", "Weber", "Yilmaz"]
START = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)


def _levels(rng: random.Random, n: int) -> list[int]:
    """Levels of the n - 1 - len(DEPARTMENTS) employees below the vice presidents."""
    rest = n - 1 - len(DEPARTMENTS)
    counts = {lvl: int(share * rest) for lvl, share in LEVEL_SHARES.items()}
    counts[3] += rest - sum(counts.values())
    out = [lvl for lvl, c in sorted(counts.items(), reverse=True) for _ in range(c)]
    return out  # seniors first: a manager always exists before the people reporting to them


def employees(n: int, rng: random.Random) -> list[dict]:
    depts = list(DEPARTMENTS)
    shares = [DEPARTMENTS[d][0] for d in depts]
    people: list[dict] = []
    by_dept_level: dict[tuple[str, int], list[str]] = {}

    def add(level: int, dept: str, manager_id: str | None) -> None:
        eid = f"E{len(people) + 1:06d}"
        loc = rng.choice(list(LOCATIONS))
        zone, local = LOCATIONS[loc]
        langs = {"en"} | {x for x in local if rng.random() < 0.82} | (
            {rng.choice(OTHER_LANGUAGES)} if rng.random() < 0.03 else set())
        pool = DEPARTMENTS.get(dept, (0, []))[1]
        skills = set(rng.sample(pool, min(len(pool), rng.randint(1, 4)))) | set(
            rng.sample(GENERAL_SKILLS, rng.randint(2, 4)))
        if level >= 6:
            skills |= {"people-management", "mentoring"}
        first, last = rng.choice(FIRST), rng.choice(LAST)
        people.append({
            "department": dept, "display_name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}.{len(people) + 1:06d}@example.com", "employee_id": eid,
            "hire_date": (date(2011, 1, 5) + timedelta(days=rng.randint(0, 5444))).isoformat(),
            "languages": sorted(langs), "level": level, "location": loc, "manager_id": manager_id,
            "skills": sorted(skills), "timezone": zone, "title": f"{TITLES[level]}, {dept}",
        })
        by_dept_level.setdefault((dept, level), []).append(eid)

    add(10, "Executive", None)
    for dept in depts:
        add(9, dept, people[0]["employee_id"])
    for level in _levels(rng, n):
        dept = rng.choices(depts, shares)[0]
        ups = [level + 1, level + 2] if rng.random() < 2 / 3 else [level + 2, level + 1]
        ups += list(range(level + 3, 10))
        manager = next(rng.choice(by_dept_level[(dept, up)]) for up in ups if by_dept_level.get((dept, up)))
        add(level, dept, manager)
    return people


def enrollments(people: list[dict], n_mentees: int, n_mentors: int, rng: random.Random) -> list[dict]:
    seniors = [p for p in people if 5 <= p["level"] <= 9]
    mentors = rng.sample(seniors, min(n_mentors, len(seniors)))
    taken = {p["employee_id"] for p in mentors}
    juniors = [p for p in people if 2 <= p["level"] <= 5 and p["employee_id"] not in taken]
    mentees = rng.sample(juniors, min(n_mentees, len(juniors)))
    caps, cap_w = list(CAPACITY_WEIGHTS), list(CAPACITY_WEIGHTS.values())
    out = []
    for p in mentors:
        out.append({"capacity": rng.choices(caps, cap_w)[0], "employee_id": p["employee_id"],
                    "preferences": {"same_timezone": rng.random() < 0.28}, "role": "mentor",
                    "topics": sorted(rng.sample(p["skills"], min(len(p["skills"]), rng.randint(4, 6))))})
    for p in mentees:
        pool = DEPARTMENTS.get(p["department"], (0, []))[1]
        k = rng.choices([2, 3, 4, 5], [9, 83, 5, 3])[0]
        wanted = set(rng.sample(GENERAL_SKILLS, rng.randint(1, min(k, 3))))
        wanted |= set(rng.sample(pool, min(len(pool), k - len(wanted))))
        prefs: dict = {"same_timezone": rng.random() < 0.28}
        if rng.random() < 0.07:
            prefs["languages"] = ["en"] if rng.random() < 0.7 else [rng.choice(p["languages"])]
        out.append({"employee_id": p["employee_id"], "goals_summary":
                    f"Grow in {sorted(wanted)[0].replace('-', ' ')} over the next six months",
                    "preferences": prefs, "role": "mentee", "topics": sorted(wanted)})
    rng.shuffle(out)
    return out


def generate(out_dir: Path, n_employees: int, seed: int, n_mentees: int | None = None,
             n_mentors: int | None = None) -> Path:
    rng = random.Random(seed)
    people = employees(n_employees, rng)
    enrolled = enrollments(people, n_employees * 2 // 5 if n_mentees is None else n_mentees,
                           n_employees // 10 if n_mentors is None else n_mentors, rng)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "hris-employees.jsonl", "w", encoding="utf-8") as fh:
        for i, p in enumerate(people):
            fh.write(json.dumps({
                "data": p, "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event_type": "EmployeeUpserted",
                "occurred_at": (START + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "schema_version": 1, "source": "workday"}, sort_keys=True) + "\n")
    with open(out_dir / "cohort-enrollments.jsonl", "w", encoding="utf-8") as fh:
        for r in enrolled:
            fh.write(json.dumps(r, sort_keys=True) + "\n")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--employees", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mentees", type=int, default=None, help="default: 40%% of the employees")
    ap.add_argument("--mentors", type=int, default=None, help="default: 10%% of the employees")
    ap.add_argument("--out", default=None, help="default: bench/results/data/org-<N>-s<seed>")
    args = ap.parse_args(argv)
    out = Path(args.out or Path(__file__).resolve().parents[1] / "bench" / "results" / "data"
               / f"org-{args.employees}-s{args.seed}")
    generate(out, args.employees, args.seed, args.mentees, args.mentors)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
