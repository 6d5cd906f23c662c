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

:func:`assign_circles` solves this *exactly* over every eligible pair, with the same integer edge
weights as the pairs' optimiser (assignment._edge_weights: the same scores, hard rules and modes):

1. the *relaxation* without the minimum (a b-matching LP, integral) by HiGHS (`linprog`): its duals
   give a bound above every circle assignment and each pair's reduced cost (`_relaxation`);
2. a good assignment near it (`_feasible`: circles below the minimum filled up or closed): if it
   reaches the bound, it is optimal — usually so when the minimum hardly binds;
3. else the mixed-integer programme (`_milp`, SciPy's HiGHS `milp`): binary ``x[i, j]`` (mentee i
   joins mentor j's circle) and ``y[j]`` (mentor j's closed circle opens),
   ``min * y[j] <= sum_i x[i, j] <= seats[j] * y[j]`` (open circles: ``<= free seats``),
   ``sum_j x[i, j] <= 1``, tightened with ``x[i, j] <= y[j]``; first over the pairs of reduced cost
   0 only (where the optimum usually is: if it reaches the bound, done), then over every pair
   whose reduced cost does not exceed bound - best value so far (any other pair is in no
   assignment worth that value, so in no optimal one).

Every step is a proof: the weights are integers, so a bound less than 1 above a solution's value
proves it optimal (HiGHS's `mip_rel_gap` is 0, and its dual bound is checked too); the rounded
answer is re-checked against every rule in integers; the run fails (`NotProven`) rather than propose
an unproven assignment. `stats` records which step proved it. Deterministic: candidates are in id
order and HiGHS is deterministic for a given input.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Iterable, Sequence

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from services.matching.domain import assignment as pairs
from services.matching.domain.assignment import MatchingResult, MenteeCandidate, MentorCandidate
from services.matching.domain.rules import MatchingRules

TIME_LIMIT_S = 600.0
# float slack of the proofs: their sums reach ~1e10 (float64: ~1e-6 exact); the weights are integers
BOUND_SLACK = 1e-3
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
    stats: dict = {"solver": "highs", "min_size": min_size}
    ei, ej = np.nonzero((S >= 0) & usable[None, :])  # row-major: (mentee, mentor) in id order
    stats["edges"] = int(len(ei))
    if len(ei) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), {  # nobody can join anyone: proven at once
            **stats, "proof": "empty", "status": 0, "objective": 0, "dual_bound": 0.0, "circles_opened": 0}
    w = pairs._edge_weights(S[ei, ej], n, mode)  # int64
    bound, rc, x_lp = _relaxation(ei, ej, w, n, m, free)
    lb_x = _feasible(ei, ej, w, x_lp, free, is_open, min_size)
    lb = int(w[lb_x].sum())
    stats.update(lp_bound=bound, lower_bound=lb)
    x = lb_x
    stats.update(proof="relaxation", status=0, objective=lb, dual_bound=bound, edges_kept=0)
    # Then the exact programme on ever fewer edges: first only the tight ones (reduced cost 0: where
    # the relaxation's optimum lives, usually also the circles'), then every edge that can still be
    # in an optimal assignment: one whose reduced cost exceeds bound - lb is in no assignment worth
    # lb (`_relaxation`). Each step proves its own optimum; the relaxation's bound or the last
    # step's proof makes it the optimum over all pairs.
    for step in ("tight_edges", "milp"):
        if bound < lb + 1 - BOUND_SLACK:  # nothing can be worth more than what we have
            break
        limit = BOUND_SLACK if step == "tight_edges" else bound - lb + BOUND_SLACK
        kept = np.flatnonzero(rc <= limit)
        x_kept, milp_stats = _milp(ei[kept], ej[kept], w[kept], n, m, free, is_open, usable, min_size)
        if step == "milp" or milp_stats["objective"] > lb:
            x = np.zeros(len(ei), dtype=bool)
            x[kept[x_kept]] = True
            lb = max(lb, milp_stats["objective"])
            stats.update(milp_stats, proof=step, edges_kept=int(len(kept)))
        if step == "milp" and milp_stats["objective"] < stats["lower_bound"]:
            raise NotProven("the circle optimiser found less than a solution it already had")
    if stats["proof"] != "milp":  # proven by the relaxation's bound
        stats.update(objective=lb, dual_bound=bound)
    mi, mj = ei[x].astype(np.int64), ej[x].astype(np.int64)
    _check(mi, mj, n, free, is_open, usable, min_size)
    stats["circles_opened"] = int(len(np.setdiff1d(np.unique(mj), np.flatnonzero(is_open))))
    return mi, mj, stats


def _rows(ei: np.ndarray, ej: np.ndarray, n: int, m: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """One row per mentee (its edges), then one per mentor with edges; and those mentors."""
    used_j = np.unique(ej)
    j_rows = np.full(m, -1, dtype=np.int64)
    j_rows[used_j] = n + np.arange(len(used_j))
    edges = np.arange(len(ei))
    A = sparse.csr_matrix((np.ones(2 * len(ei)), (np.concatenate([ei, j_rows[ej]]), np.concatenate([edges, edges]))),
                          shape=(n + len(used_j), len(ei)))
    return A, used_j


def _relaxation(ei, ej, w, n, m, free) -> tuple[float, np.ndarray, np.ndarray]:
    """The problem without the minimum size (a b-matching: its LP optimum is integral) solved by
    HiGHS, and what its duals prove: `bound`, above the value of every circle assignment, and each
    edge's reduced cost `rc`, by which any assignment using the edge falls below `bound`.

    For duals u (mentees), q (mentors) >= 0 and rc = u[i] + q[j] - w: any assignment x has
    w.x = sum_i u[i] sum_j x + sum_j q[j] sum_i x - rc.x <= sum u + sum q * free - rc.x. Float
    duals may leave tiny negative reduced costs: each mentee's most negative is added to the
    bound, so both statements hold for these numbers, not only for exact duals.
    """
    A, used_j = _rows(ei, ej, n, m)
    res = linprog(-w.astype(np.float64), A_ub=A, b_ub=np.concatenate([np.ones(n), free[used_j]]).astype(np.float64),
                  bounds=(0, None), method="highs")
    if res.status != 0:
        raise NotProven(f"the circle optimiser's relaxation failed: {res.message}")
    duals = np.maximum(0.0, -np.asarray(res.ineqlin.marginals, dtype=np.float64))
    u, q_used = duals[:n], duals[n:]
    q = np.zeros(m)
    q[used_j] = q_used
    rc = u[ei] + q[ej] - w.astype(np.float64)
    slack = np.zeros(n)
    np.minimum.at(slack, ei, rc)  # <= 0
    bound = float(u.sum() + (q_used * free[used_j]).sum() - slack.sum())
    return bound, rc, np.asarray(res.x) > 0.5


def _feasible(ei, ej, w, x_lp, free, is_open, min_size) -> np.ndarray:
    """A good circle assignment near the relaxation's (a lower bound for `_solve`): its pairs, each
    mentee once and each circle within its seats; a closed circle below the minimum is filled up to
    it with unplaced mentees (best edge first) or else closed; then unplaced mentees join circles
    that may take them (open, or opened at the minimum already), best edge first."""
    order = sorted(range(len(ei)), key=lambda e: (-int(w[e]), e))
    chosen = np.zeros(len(ei), dtype=bool)
    load = np.zeros(len(free), dtype=np.int64)
    placed = np.zeros(int(ei.max()) + 1, dtype=bool)

    def take(e: int) -> None:
        chosen[e] = True
        placed[ei[e]] = True
        load[ej[e]] += 1

    for e in order:
        if x_lp[e] and not placed[ei[e]] and load[ej[e]] < free[ej[e]]:
            take(e)
    small = [j for j in np.flatnonzero((~is_open) & (load > 0) & (load < min_size)).tolist()]
    for j in sorted(small, key=lambda j: (-int(load[j]), j)):  # the fullest first
        for e in order:
            if load[j] >= min_size:
                break
            if ej[e] == j and not placed[ei[e]]:
                take(e)
        if load[j] < min_size:  # it cannot open: its members wait for another circle
            members = np.flatnonzero(chosen & (ej == j))
            chosen[members] = False
            placed[ei[members]] = False
            load[j] = 0
    may_take = is_open | (load >= min_size)
    for e in order:
        j = ej[e]
        if not placed[ei[e]] and may_take[j] and load[j] < free[j]:
            take(e)
    return chosen


def _milp(ei, ej, w, n, m, free, is_open, usable, min_size) -> tuple[np.ndarray, dict]:
    """The exact programme of the module doc on the given edges: the chosen edges and HiGHS's proof."""
    stats: dict = {}
    if len(ei) == 0:
        return np.zeros(0, dtype=bool), {"status": 0, "objective": 0, "dual_bound": 0.0, "variables": 0}
    w = w.astype(np.float64)
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
    # a closed circle that opens: members >= min * y, and (tightening) x[i, j] <= y[j]
    closed_used = used_j[has_y]
    if len(closed_used):
        c_rows = np.full(m, -1, dtype=np.int64)
        c_rows[closed_used] = np.arange(len(closed_used))
        in_closed = y_of[ej] >= 0
        block(np.concatenate([c_rows[ej[in_closed]], c_rows[closed_used]]),
              np.concatenate([edges[in_closed], y_of[closed_used]]),
              np.concatenate([np.ones(int(in_closed.sum())), np.full(len(closed_used), -float(min_size))]),
              np.zeros(len(closed_used)), np.full(len(closed_used), np.inf))
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
    bound = -float(res.mip_dual_bound)  # nothing feasible on these edges is worth more than this
    stats.update(objective=value, dual_bound=bound, mip_gap=float(getattr(res, "mip_gap", 0.0) or 0.0))
    if bound >= value + 1:  # integer weights: a bound below value + 1 proves the optimum
        raise NotProven(f"the circle optimiser's bound {bound} leaves room above {value}")
    return x, stats


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
