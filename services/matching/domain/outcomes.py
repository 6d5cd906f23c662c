"""Did the programme make a difference? Promotion and retention of its mentees against people like them.

For the mentees of a programme's closed cohorts (those whose pairing became active), each observed
from their cohort's start (`t0`): were they promoted (a higher HRIS level) and still employed 6 and
12 months later? The comparison group is everyone else in the organisation who was employed at the
same `t0` and never enrolled in the programme, *matched* on level, department and tenure band at
`t0`: each mentee's stratum (level, department, tenure band) is compared with the non-participants
of the same stratum, and the comparison figure is the non-participants' rate standardised to the
mentees' mix of strata (so a programme of junior engineers is not compared with the whole company).

Honest numbers:
- a horizon counts only mentees whose `t0 + horizon` has passed by `as_of`, and whose level at `t0`
  is known (the HRIS history starts when the platform first heard of them);
- a mentee whose stratum has fewer than `K` comparison people is left out of both sides (counted
  as `unmatched`);
- every figure is backed by at least `K` people, or it is not published (`null`);
- confidence intervals: Wilson's score interval for the mentees' proportion; for the standardised
  comparison, the normal interval of a weighted sum of independent proportions (each stratum's
  variance from its Wilson-adjusted proportion, so a stratum at 0 % or 100 % does not claim
  certainty).

Pure functions: the application layer reads the directory and the views and calls `outcomes`.
"""
from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date

K = 5  # the fewest people behind any published figure (the same k as feedback's summaries)
HORIZONS_MONTHS = (6, 12)
Z95 = 1.959963984540054
TENURE_BANDS = ((1, "<1y"), (3, "1-3y"), (5, "3-5y"), (10, "5-10y"))  # upper bound in years, label


@dataclass(frozen=True)
class Person:
    """What the HRIS told us about someone: level runs, department, hire and termination dates."""
    employee_id: str
    department: str | None
    hire_date: date | None
    terminated_on: date | None
    level_history: tuple[tuple[date, int], ...]  # run starts, oldest first

    def level_on(self, day: date) -> int | None:
        level = None
        for start, value in self.level_history:
            if start > day:
                break
            level = value
        return level

    def employed_on(self, day: date) -> bool:
        hired = self.hire_date is None or self.hire_date <= day
        return hired and (self.terminated_on is None or self.terminated_on > day)


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def tenure_band(person: Person, day: date) -> str:
    if person.hire_date is None:
        return "unknown"
    years = (day - person.hire_date).days / 365.25
    for upper, label in TENURE_BANDS:
        if years < upper:
            return label
    return "10y+"


def stratum(person: Person, day: date) -> tuple | None:
    level = person.level_on(day)
    if level is None:
        return None
    return (level, person.department or "", tenure_band(person, day))


def wilson(successes: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denominator = 1 + Z95 ** 2 / n
    centre = (p + Z95 ** 2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def _figure(rate: float | None, low: float | None, high: float | None, n: int) -> dict:
    if n < K or rate is None:
        return {"n": n, "rate": None, "ci_low": None, "ci_high": None, "suppressed": True}
    return {"n": n, "rate": round(rate, 4), "ci_low": round(low, 4), "ci_high": round(high, 4), "suppressed": False}


def _promoted(person: Person, t0: date, end: date) -> bool:
    start, later = person.level_on(t0), person.level_on(end)
    return start is not None and later is not None and later > start


def _standardised(cells: dict[tuple[date, tuple], int], pools: dict[date, dict[tuple, list[Person]]], horizon: int,
                  outcome) -> tuple[float, float, float, int]:
    """The comparison group's rate weighted by the mentees' cells (t0, stratum) — each cell's
    non-participants observed from the same t0 — : (rate, low, high, people behind it)."""
    total = sum(cells.values())
    rate = variance = 0.0
    behind: set[str] = set()
    for (t0, key), count in cells.items():
        peers = pools[t0][key]
        end = add_months(t0, horizon)
        successes = sum(1 for p in peers if outcome(p, t0, end))
        behind.update(p.employee_id for p in peers)
        adjusted = (successes + 2) / (len(peers) + 4)  # Agresti-Coull: no zero-variance cells
        weight = count / total
        rate += weight * successes / len(peers)
        variance += weight ** 2 * adjusted * (1 - adjusted) / len(peers)
    half = Z95 * math.sqrt(variance)
    return rate, max(0.0, rate - half), min(1.0, rate + half), len(behind)


def _pool(people: list[Person], t0: date) -> dict[tuple, list[Person]]:
    by_stratum: dict[tuple, list[Person]] = {}
    for person in people:
        key = stratum(person, t0) if person.employed_on(t0) else None
        if key is not None:
            by_stratum.setdefault(key, []).append(person)
    return by_stratum


def outcomes(mentees: list[tuple[str, date]], people: dict[str, Person], *, excluded: set[str], as_of: date) -> dict:
    """`mentees`: (employee id, t0) of each participating mentee; `people`: the whole directory;
    `excluded`: everyone enrolled in the programme (never in the comparison group)."""
    result: dict = {"as_of": as_of.isoformat(), "k": K, "horizons": []}
    comparison_people = [p for eid, p in people.items() if eid not in excluded]
    pools = {t0: _pool(comparison_people, t0) for t0 in sorted({t0 for _eid, t0 in mentees})}
    for horizon in HORIZONS_MONTHS:
        matched: list[tuple[Person, date, tuple]] = []
        unmatched = 0
        for eid, t0 in mentees:
            person = people.get(eid)
            key = stratum(person, t0) if person is not None else None
            if person is None or key is None or add_months(t0, horizon) > as_of:
                continue  # not observable (yet)
            if len(pools[t0].get(key, ())) >= K:
                matched.append((person, t0, key))
            else:
                unmatched += 1
        cells: dict[tuple[date, tuple], int] = {}
        for _person, t0, key in matched:
            cells[(t0, key)] = cells.get((t0, key), 0) + 1
        figures: dict = {"months": horizon, "mentees_observed": len(matched), "unmatched": unmatched}
        for name, outcome in (("promotion", _promoted), ("retention", _retained)):
            n = len(matched)
            successes = sum(1 for person, t0, _key in matched if outcome(person, t0, add_months(t0, horizon)))
            low, high = wilson(successes, n)
            comparison = _figure(None, None, None, 0)
            if cells:
                rate, c_low, c_high, behind = _standardised(cells, pools, horizon, outcome)
                comparison = _figure(rate, c_low, c_high, behind)
            figures[name] = {"mentees": _figure(successes / n if n else None, low, high, n), "comparison": comparison}
        result["horizons"].append(figures)
    return result


def _retained(person: Person, t0: date, end: date) -> bool:
    return person.employed_on(end)
