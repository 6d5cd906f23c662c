"""Mentoring circles (issue 15): a cohort with `format: circle` groups one mentor and
`circle_min_size` to `circle_max_size` mentees. Pure domain, no I/O.

A circle member is an ordinary pairing (mentor, mentee) whose `PairingProposed` names the circle
(`circle_id`): goals, feedback and their privacy stay per pairing, and each member answers their
own proposal. A mentor has one circle per cohort; its id is computed from (cohort, mentor), so a
run, a manual proposal and a replay all name the same circle.

Seats: a mentor's circle holds at most ``min(capacity, circle_max_size)`` members (the capacity the
mentor enrolled with is what they can take; the cohort's maximum caps it). A circle is *open* once
it has a member (a proposed or active pairing); a run

* opens a closed circle only with at least `circle_min_size` new members (a mentor whose seats are
  below the minimum opens none), and never with more than its seats;
* adds to an open circle up to its free seats, with no minimum: the members already there are not
  the run's to undo (a circle that shrank below the minimum through declines is the admins' call).

:func:`assign_circles` solves this *exactly* as a mixed-integer programme over every eligible pair:
binary ``x[i, j]`` (mentee i joins mentor j's circle) and ``y[j]`` (mentor j's closed circle
opens), ``min * y[j] <= sum_i x[i, j] <= seats[j] * y[j]`` (open circles: ``<= free seats``),
``sum_j x[i, j] <= 1``, maximising the same integer edge weights as the pairs' optimiser
(assignment._edge_weights: the same scores, hard rules and modes). SciPy's HiGHS (`milp`) proves
the optimum: every weight is an integer, so a dual bound less than 1 above the solution's value
leaves no better assignment; the run fails rather than propose an unproven one. The LP relaxation
is tightened with ``x[i, j] <= y[j]`` (same integer optimum, far fewer branches). Deterministic:
candidates are in id order and HiGHS is deterministic for a given input.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Iterable, Sequence

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from services.matching.domain import assignment as pairs
from services.matching.domain.assignment import MatchingResult, MenteeCandidate, MentorCandidate
from services.matching.domain.rules import MatchingRules

TIME_LIMIT_S = 600.0
METHOD = "circle_milp"


def circle_id_for(cohort_id: str, mentor_id: str) -> str:
    """A mentor's circle in a cohort: `cir-` and 32 hex digits of sha256(cohort|mentor) (URL-safe,
    like pairing ids; one circle per mentor per cohort)."""
    return "cir-" + hashlib.sha256(f"{cohort_id}|{mentor_id}".encode()).hexdigest()[:32]


def circle_seats(mentor: MentorCandidate, max_size: int) -> MentorCandidate:
    """The mentor as a circle cohort sees them: capacity = their circle's size, at most `max_size`."""
    capacity = min(int(mentor.capacity), int(max_size))
    return mentor if capacity == mentor.capacity else replace(mentor, capacity=capacity)


class NotProven(ValueError):
    """HiGHS did not prove an optimum (time limit, numerical trouble): no proposals from it."""


def _solver(min_size: int):
    def solve(S: np.ndarray, prob, mode: str) -> tuple[np.ndarray, np.ndarray, dict]:
        return _solve(S, prob, mode, min_size)
    return solve


def _solve(S: np.ndarray, prob, mode: str, min_size: int) -> tuple[np.ndarray, np.ndarray, dict]:
    n, m = S.shape
    taken = np.array([int(c.seats_taken) for c in prob.mentors], dtype=np.int64)
    free = prob.m_free.astype(np.int64)  # capacity (already <= max size) - members
    is_open = taken > 0
    # a closed circle that could never reach the minimum takes nobody
    usable = np.where(is_open, free > 0, free >= min_size)
    stats: dict = {"solver": "highs-milp", "min_size": min_size, "variables": 0, "constraints": 0}
    ei, ej = np.nonzero((S >= 0) & usable[None, :])  # row-major: (mentee, mentor) in id order
    if len(ei) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), {  # nobody can join anyone: proven at once
            **stats, "status": 0, "mip_gap": 0.0, "objective": 0, "dual_bound": 0.0, "circles_opened": 0}
    w = pairs._edge_weights(S[ei, ej], n, mode).astype(np.float64)
    closed = np.flatnonzero(~is_open & usable)
    y_of = np.full(m, -1, dtype=np.int64)
    y_of[closed] = len(ei) + np.arange(len(closed))
    n_x, n_var = len(ei), len(ei) + len(closed)
    cost = np.concatenate([-w, np.zeros(len(closed))])
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    lo: list[np.ndarray] = []
    hi: list[np.ndarray] = []
    r0 = 0

    def block(r, c, v, lower, upper):
        nonlocal r0
        rows.append(r0 + np.asarray(r, dtype=np.int64))
        cols.append(np.asarray(c, dtype=np.int64))
        vals.append(np.asarray(v, dtype=np.float64))
        lo.append(np.asarray(lower, dtype=np.float64))
        hi.append(np.asarray(upper, dtype=np.float64))
        r0 += len(lower)

    edges = np.arange(n_x)
    # each mentee in at most one circle
    block(ei, edges, np.ones(n_x), np.zeros(n), np.ones(n))
    # each circle: members <= seats (open: free seats; closed: seats * y)
    j_rows = np.full(m, -1, dtype=np.int64)
    used_j = np.unique(ej)
    j_rows[used_j] = np.arange(len(used_j))
    has_y = y_of[used_j] >= 0
    block(np.concatenate([j_rows[ej], j_rows[used_j[has_y]]]),
          np.concatenate([edges, y_of[used_j[has_y]]]),
          np.concatenate([np.ones(n_x), -free[used_j[has_y]]]),
          np.full(len(used_j), -np.inf), np.where(has_y, 0, free[used_j]))
    # a closed circle that opens: members >= min * y
    closed_used = used_j[has_y]
    if len(closed_used):
        c_rows = np.full(m, -1, dtype=np.int64)
        c_rows[closed_used] = np.arange(len(closed_used))
        in_closed = y_of[ej] >= 0
        block(np.concatenate([c_rows[ej[in_closed]], c_rows[closed_used]]),
              np.concatenate([edges[in_closed], y_of[closed_used]]),
              np.concatenate([np.ones(int(in_closed.sum())), np.full(len(closed_used), -float(min_size))]),
              np.zeros(len(closed_used)), np.full(len(closed_used), np.inf))
        # tightening: x[i, j] <= y[j]
        k = int(in_closed.sum())
        block(np.concatenate([np.arange(k), np.arange(k)]),
              np.concatenate([edges[in_closed], y_of[ej[in_closed]]]),
              np.concatenate([np.ones(k), -np.ones(k)]), np.full(k, -np.inf), np.zeros(k))
    A = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r0, n_var))
    res = milp(cost, constraints=LinearConstraint(A, np.concatenate(lo), np.concatenate(hi)),
               integrality=np.ones(n_var), bounds=Bounds(0, 1),
               options={"mip_rel_gap": 0.0, "time_limit": TIME_LIMIT_S, "presolve": True})
    stats.update(variables=n_var, constraints=r0, status=int(res.status), message=str(res.message))
    if res.status != 0 or res.x is None:
        raise NotProven(f"the circle optimiser proved no optimum: {res.message}")
    x = np.rint(res.x[:n_x]).astype(bool)
    value = int(w[x].sum())  # exact: integers far below 2**53
    bound = -float(res.mip_dual_bound)  # nothing feasible is worth more than this
    gap = max(0.0, bound - value)
    stats.update(objective=value, dual_bound=bound, mip_gap=float(getattr(res, "mip_gap", 0.0) or 0.0))
    if gap >= 1.0:  # integer weights: a bound below value + 1 proves the optimum
        raise NotProven(f"the circle optimiser's bound {bound} leaves room above {value}")
    mi, mj = ei[x].astype(np.int64), ej[x].astype(np.int64)
    _check(mi, mj, n, free, is_open, usable, min_size)
    stats["circles_opened"] = int(len(np.setdiff1d(np.unique(mj), np.flatnonzero(is_open))))
    return mi, mj, stats


def _check(mi, mj, n, free, is_open, usable, min_size) -> None:
    """The rounded solution obeys every rule in integers (never trust a float)."""
    if len(np.unique(mi)) != len(mi):
        raise NotProven("a mentee was put in two circles")
    load = np.bincount(mj, minlength=len(free))
    if np.any(load > free) or np.any((load > 0) & ~usable):
        raise NotProven("a circle got more members than seats")
    if np.any((load > 0) & ~is_open & (load < min_size)):
        raise NotProven("a circle opened below the minimum size")


def assign_circles(
    mentors: Sequence[MentorCandidate],
    mentees: Sequence[MenteeCandidate],
    rules: MatchingRules | None = None,
    forbidden_pairs: Iterable[tuple[str, str]] = (),
    mode: str = "maximize_score",
    *,
    min_size: int,
    max_size: int,
    reference_instant: datetime | None = None,
) -> MatchingResult:
    """Exact optimal circles (module doc): mentors with ``seats_taken`` members already have an open
    circle. The result has the pairs' shape (one Proposal per new member); ``stats`` records the
    solver's proof (status 0, dual bound within 1 of the objective)."""
    if not 1 <= int(min_size) <= int(max_size):
        raise ValueError("need 1 <= min_size <= max_size")
    capped = [circle_seats(m, max_size) for m in mentors]
    return pairs._run(METHOD, capped, mentees, rules, forbidden_pairs, mode, reference_instant,
                      solver=_solver(int(min_size)), hash_extra={"circle_min_size": int(min_size),
                                                                 "circle_max_size": int(max_size)},
                      seats_text="other mentees, or their circles could not reach the minimum size")
