"""Property and example tests of the pure-domain matching algorithm."""
from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from services.matching.domain import assignment as A
from services.matching.domain.assignment import (
    MenteeCandidate,
    MentorCandidate,
    assign,
    eligibility_violations,
    greedy_assignment,
    score_pair,
)
from services.matching.domain.rules import MatchingRules

TOPICS = ["python", "system-design", "leadership", "hiring", "sales"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Tokyo"]
LANGS = ["en", "fr", "de"]
DEPTS = ["Eng", "Sales", "Data"]

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def cohorts(draw, max_mentees=8, max_mentors=4, max_cap=3):
    n_e = draw(st.integers(0, max_mentees))
    n_m = draw(st.integers(0, max_mentors))
    mentor_ids = [f"M{j}" for j in range(n_m)]
    # a person may be enrolled in both roles: mentee "P0" vs mentor "P0"
    if n_m and draw(st.booleans()):
        mentor_ids[0] = "P0"
    mentee_ids = [f"E{i}" for i in range(n_e)]
    if n_e and draw(st.booleans()):
        mentee_ids[0] = "P0"
    everyone = mentor_ids + mentee_ids
    sub = lambda pool, k=3: st.lists(st.sampled_from(pool), max_size=k, unique=True) if pool else st.just([])  # noqa: E731
    mentors = [
        MentorCandidate(
            employee_id=mid,
            level=draw(st.integers(1, 10)),
            languages=draw(st.lists(st.sampled_from(LANGS), min_size=0, max_size=2, unique=True)),
            timezone=draw(st.sampled_from(ZONES)),
            department=draw(st.sampled_from(DEPTS)),
            management_chain=draw(sub(everyone, 2)),
            topics=draw(sub(TOPICS)),
            skills=draw(sub(TOPICS, 2)),
            capacity=draw(st.integers(0, max_cap)),
            seats_taken=draw(st.integers(0, 1)),
            exclude=draw(sub(mentee_ids, 1)),
            active=draw(st.booleans() | st.just(True)),
        )
        for mid in mentor_ids
    ]
    mentees = [
        MenteeCandidate(
            employee_id=eid,
            level=draw(st.integers(1, 10)),
            languages=draw(st.lists(st.sampled_from(LANGS), min_size=0, max_size=2, unique=True)),
            timezone=draw(st.sampled_from(ZONES)),
            department=draw(st.sampled_from(DEPTS)),
            management_chain=draw(sub(everyone, 2)),
            topics=draw(sub(TOPICS)),
            exclude=draw(sub(mentor_ids, 1)),
            preferred_mentors=draw(sub(mentor_ids, 2)),
            active=draw(st.booleans() | st.just(True)),
        )
        for eid in mentee_ids
    ]
    pairs = [(m, e) for m in mentor_ids for e in mentee_ids]
    forbidden = set(draw(st.lists(st.sampled_from(pairs), max_size=3))) if pairs else set()
    rules = draw(
        st.builds(
            MatchingRules,
            min_level_gap=st.sampled_from([None, 0, 1, 2]),
            require_shared_language=st.booleans(),
            cross_department=st.sampled_from(["bonus", "malus"]),
        )
    )
    return mentors, mentees, rules, forbidden


def units(score: float) -> int:
    return round(score * 10_000)


def check_feasible(result, mentors, mentees, rules, forbidden):
    by_m = {m.employee_id: m for m in mentors}
    by_e = {e.employee_id: e for e in mentees}
    seen = set()
    load: dict[str, int] = {}
    for p in result.assignments:
        assert p.mentee_id not in seen
        seen.add(p.mentee_id)
        load[p.mentor_id] = load.get(p.mentor_id, 0) + 1
        assert (p.mentor_id, p.mentee_id) not in forbidden
        m, e = by_m[p.mentor_id], by_e[p.mentee_id]
        assert eligibility_violations(m, e, rules, forbidden) == []
        assert 0.0 <= p.score <= 1.0
        assert p.score == round(p.score, 4)
        assert (p.score, list(p.reasons)) == score_pair(m, e, rules)
    for mid, k in load.items():
        assert k <= by_m[mid].capacity - by_m[mid].seats_taken
    assert [p.mentee_id for p in result.assignments] == sorted(seen)
    assert set(result.unmatched) == set(by_e) - seen
    assert result.totals.matched == len(result.assignments)
    assert units(result.totals.total_score) == sum(units(p.score) for p in result.assignments)


def brute_force(mentors, mentees, rules, forbidden):
    """(max total score units, max matched count, best score units among max-cardinality)."""
    options = []
    for e in mentees:
        opts = [None]
        for m in mentors:
            if not eligibility_violations(m, e, rules, forbidden):
                opts.append((m.employee_id, units(score_pair(m, e, rules)[0])))
        options.append(opts)
    cap = {m.employee_id: m.capacity - m.seats_taken for m in mentors}
    best_score, best_card, best_cov = 0, 0, (0, 0)
    for combo in itertools.product(*options):
        load: dict[str, int] = {}
        ok = True
        for c in combo:
            if c is not None:
                load[c[0]] = load.get(c[0], 0) + 1
                if load[c[0]] > cap[c[0]]:
                    ok = False
                    break
        if not ok:
            continue
        total = sum(c[1] for c in combo if c is not None)
        card = sum(c is not None for c in combo)
        best_score = max(best_score, total)
        best_card = max(best_card, card)
        best_cov = max(best_cov, (card, total))
    return best_score, best_card, best_cov[1]


@SETTINGS
@given(cohorts())
def test_exact_is_feasible_and_beats_greedy(case):
    mentors, mentees, rules, forbidden = case
    for mode in ("maximize_score", "maximize_coverage"):
        exact = assign(mentors, mentees, rules, forbidden, mode=mode)
        check_feasible(exact, mentors, mentees, rules, forbidden)
        greedy = greedy_assignment(mentors, mentees, rules, forbidden)
        check_feasible(greedy, mentors, mentees, rules, forbidden)
        if mode == "maximize_score":
            assert units(exact.totals.total_score) >= units(greedy.totals.total_score)
        else:
            assert exact.totals.matched >= greedy.totals.matched


@SETTINGS
@given(cohorts(max_mentees=5, max_mentors=3, max_cap=2))
def test_exact_equals_brute_force(case):
    mentors, mentees, rules, forbidden = case
    best_score, best_card, best_cov_score = brute_force(mentors, mentees, rules, forbidden)
    by_score = assign(mentors, mentees, rules, forbidden, mode="maximize_score")
    by_cov = assign(mentors, mentees, rules, forbidden, mode="maximize_coverage")
    assert units(by_score.totals.total_score) == best_score
    assert by_cov.totals.matched == best_card
    assert units(by_cov.totals.total_score) == best_cov_score
    assert by_cov.totals.matched >= by_score.totals.matched


@SETTINGS
@given(cohorts(), st.randoms(use_true_random=False))
def test_deterministic_and_order_independent(case, rnd):
    mentors, mentees, rules, forbidden = case
    a = assign(mentors, mentees, rules, forbidden)
    b = assign(mentors, mentees, rules, forbidden)
    sm, se = list(mentors), list(mentees)
    rnd.shuffle(sm)
    rnd.shuffle(se)
    c = assign(sm, se, rules, set(forbidden))
    assert a == b == c
    assert a.input_hash == c.input_hash
    g1, g2 = greedy_assignment(mentors, mentees, rules, forbidden), greedy_assignment(sm, se, rules, forbidden)
    assert g1.assignments == g2.assignments


def test_larger_random_cohort_beats_greedy_and_is_deterministic():
    rng = random.Random(7)
    mentors = [
        MentorCandidate(f"M{j:03d}", level=rng.randint(4, 9), languages=["en"],
                        timezone=rng.choice(ZONES), department=rng.choice(DEPTS),
                        topics=rng.sample(TOPICS, 2), skills=rng.sample(TOPICS, 1),
                        capacity=rng.randint(1, 3))
        for j in range(40)
    ]
    mentees = [
        MenteeCandidate(f"E{i:03d}", level=rng.randint(1, 6), languages=["en"],
                        timezone=rng.choice(ZONES), department=rng.choice(DEPTS),
                        topics=rng.sample(TOPICS, 3))
        for i in range(150)
    ]
    exact = assign(mentors, mentees)
    greedy = greedy_assignment(mentors, mentees)
    check_feasible(exact, mentors, mentees, MatchingRules(), set())
    assert units(exact.totals.total_score) >= units(greedy.totals.total_score)
    assert exact.totals.matched >= greedy.totals.matched
    assert assign(list(reversed(mentors)), mentees) == exact


# --------------------------------------------------------------------------- examples


def mentor(**kw):
    base = dict(employee_id="M1", level=6, languages=["en"], timezone="Europe/Berlin",
                department="Eng", topics=["python", "system-design"], skills=["leadership"],
                capacity=1)
    base.update(kw)
    return MentorCandidate(**base)


def mentee(**kw):
    base = dict(employee_id="E1", level=3, languages=["en", "fr"], timezone="Europe/London",
                department="Sales", topics=["python", "system-design", "leadership", "hiring"])
    base.update(kw)
    return MenteeCandidate(**base)


def test_eligibility_violations_name_rules():
    assert eligibility_violations(mentor(), mentee()) == []
    assert eligibility_violations(mentor(level=3), mentee()) == ["min_level_gap"]
    assert eligibility_violations(mentor(level=3), mentee(), MatchingRules(min_level_gap=None)) == []
    assert eligibility_violations(mentor(languages=["de"]), mentee()) == ["shared_language"]
    assert eligibility_violations(mentor(), mentee(management_chain=["X", "M1"])) == ["management_chain"]
    assert eligibility_violations(mentor(management_chain=["E1"]), mentee()) == ["management_chain"]
    assert eligibility_violations(mentor(), mentee(exclude=["M1"])) == ["exclude_list"]
    assert eligibility_violations(mentor(exclude=["E1"]), mentee()) == ["exclude_list"]
    assert eligibility_violations(mentor(active=False), mentee()) == ["inactive"]
    assert eligibility_violations(mentor(capacity=2, seats_taken=2), mentee()) == ["capacity"]
    assert eligibility_violations(mentor(), mentee(), forbidden_pairs={("M1", "E1")}) == ["declined_before"]
    assert eligibility_violations(mentor(employee_id="P"), mentee(employee_id="P")) == ["self_pairing"]
    assert eligibility_violations(
        mentor(level=2, languages=["de"]), mentee(exclude=["M1"])
    ) == ["min_level_gap", "shared_language", "exclude_list"]


def test_score_and_reasons_are_readable():
    score, reasons = score_pair(mentor(), mentee(preferred_mentors=["M1"]))
    # topics 3/4, 1 hour apart (Berlin vs London in January), different dept, gap 3
    expected = (0.5 * 0.75 + 0.2 * (1 - 1 / 12) + 0.1 * 1 + 0.1 * (1 - 1 / 6) + 0.1 * 1) / 1.0
    assert score == round(expected, 4)
    assert reasons == [
        "shares 3 topics: python, system design, leadership",
        "1 hour apart",
        "different department",
        "3 levels senior",
        "a preferred mentor",
    ]
    s2, r2 = score_pair(mentor(department="Sales", timezone="Europe/London"), mentee(),
                        MatchingRules(cross_department="malus"))
    assert "same department" in r2 and "same time zone" in r2
    assert 0 <= s2 <= 1
    # half-hour offsets wrap around 24h: Kolkata (+5:30) vs Los Angeles (-8) = 10.5 hours
    _, r3 = score_pair(mentor(timezone="America/Los_Angeles"), mentee(timezone="Asia/Kolkata"))
    assert "10.5 hours apart" in r3
    _, r4 = score_pair(mentor(timezone="Pacific/Kiritimati"), mentee(timezone="Pacific/Pago_Pago"))
    assert "1 hour apart" in r4  # +14 vs -11 -> 25h -> wraps to 1h


def test_unmatched_reasons():
    mentors = [mentor(employee_id="M1", capacity=1)]
    mentees = [
        mentee(employee_id="E1"),
        mentee(employee_id="E2", topics=["hiring"]),  # eligible, loses the only seat
        mentee(employee_id="E3", level=6),  # no eligible mentor (level gap)
        mentee(employee_id="E4", active=False),
    ]
    res = assign(mentors, mentees)
    assert [(p.mentor_id, p.mentee_id) for p in res.assignments] == [("M1", "E1")]
    assert res.unmatched["E2"].code == "seats_exhausted"
    assert res.unmatched["E3"].code == "no_eligible_mentor"
    assert res.unmatched["E4"].code == "inactive"
    full = assign([mentor(capacity=1, seats_taken=1)], [mentee()])
    assert full.assignments == [] and full.unmatched["E1"].code == "seats_exhausted"


def test_exact_beats_greedy_on_classic_trap():
    # greedy gives E1 its best mentor M1 (the only one E2 may take) and leaves E2 unmatched
    m1 = mentor(employee_id="M1", topics=["python", "hiring"], skills=[])
    m2 = mentor(employee_id="M2", topics=["python"], skills=[], languages=["en", "fr"])
    e1 = mentee(employee_id="E1", topics=["python", "hiring"], languages=["en", "fr"])
    e2 = mentee(employee_id="E2", topics=["hiring"], languages=["en"], exclude=["M2"])
    g = greedy_assignment([m1, m2], [e1, e2])
    x = assign([m1, m2], [e1, e2])
    assert g.totals.matched == 1
    assert x.totals.matched == 2
    assert units(x.totals.total_score) > units(g.totals.total_score)


def test_modes_and_hash():
    res_a = assign([mentor()], [mentee()])
    res_b = assign([mentor()], [mentee()], mode="maximize_coverage")
    assert res_a.input_hash != res_b.input_hash
    assert res_a.input_hash == assign([mentor()], [mentee()]).input_hash
    with pytest.raises(ValueError):
        assign([mentor()], [mentee()], mode="nope")
    with pytest.raises(ValueError):
        assign([mentor(), mentor()], [mentee()])


def test_rules_round_trip():
    r = MatchingRules(min_level_gap=None, cross_department="malus", weight_topics=1.0)
    assert MatchingRules.from_dict(r.to_dict()) == r
    assert MatchingRules.from_dict({}) == MatchingRules()
    with pytest.raises(ValueError):
        MatchingRules.from_dict({"weights": {"bogus": 1}})
    with pytest.raises(ValueError):
        MatchingRules(cross_department="both")


# --------------------------------------------------------------------------- the pruned solver


def reference_optimum(mentors, mentees, rules, forbidden, mode):
    """(matched, total score units) of an optimum found without candidate pruning: every free
    seat is a row of a dense assignment problem (scipy's linear_sum_assignment) over all
    mentees plus one "stays empty" column per seat; ineligible pairs cost more than any
    assignment could gain."""
    seats = [m for m in mentors for _ in range(max(0, m.capacity - m.seats_taken))]
    n = len(mentees)
    if not seats or not n:
        return 0, 0
    big = 10**12
    cost = np.full((len(seats), n + len(seats)), float(big))
    cost[:, n:] = 0.0
    for r, m in enumerate(seats):
        for c, e in enumerate(mentees):
            if not eligibility_violations(m, e, rules, forbidden):
                s = units(score_pair(m, e, rules)[0])
                w = s + (n * 10_000 + 1) if mode == "maximize_coverage" else s * (n + 1) + 1
                cost[r, c] = -float(w)
    rows, cols = linear_sum_assignment(cost)
    picked = [(r, c) for r, c in zip(rows, cols) if c < n and cost[r, c] < 0]
    return len(picked), sum(units(score_pair(seats[r], mentees[c], rules)[0]) for r, c in picked)


@SETTINGS
@given(cohorts(max_mentees=14, max_mentors=7, max_cap=4), st.sampled_from([(1, 0, 1), (2, 1, 1), (3, 0, 2)]))
def test_pruned_exact_solver_equals_an_unpruned_optimum(case, sizes):
    """The exact solver starts from a few candidate mentors per mentee and adds pairs until the
    duals prove optimality over every pair; squeezed to 1-3 candidates per mentee (so that the
    proof has to add pairs, rounds after rounds) it still ends at the unpruned optimum: same
    matched count and total score, with capacities > 1, hard-rule exclusions and (coarse topics,
    zones and levels) many tied scores."""
    mentors, mentees, rules, forbidden = case
    k_mentee, k_mentor_per_seat, add_per_mentee = sizes
    original = A._exact_solve

    def squeezed(S, free, mode):
        return original(S, free, mode, k_mentee=k_mentee, k_mentor_per_seat=k_mentor_per_seat,
                        add_per_mentee=add_per_mentee, chunk_cells=7)

    A._exact_solve = squeezed
    try:
        for mode in ("maximize_score", "maximize_coverage"):
            got = assign(mentors, mentees, rules, forbidden, mode=mode)
            check_feasible(got, mentors, mentees, rules, forbidden)
            assert (got.totals.matched, units(got.totals.total_score)) == reference_optimum(
                mentors, mentees, rules, forbidden, mode)
    finally:
        A._exact_solve = original


def test_the_proof_adds_pairs_when_the_candidates_miss_the_optimum():
    """Everyone's best mentor is the same one-seat mentor: with one candidate per mentee the
    first solve leaves all but one unmatched; the proof finds the other mentors' pairs."""
    star = mentor(employee_id="M0", topics=["python", "system-design", "leadership", "hiring"], capacity=1)
    others = [mentor(employee_id=f"M{j}", topics=["hiring"], skills=[], capacity=2) for j in (1, 2)]
    mentees = [mentee(employee_id=f"E{i}") for i in range(5)]
    prob = A._Problem([star, *others], mentees, MatchingRules(), (), None)
    S = prob.score_matrix()
    mi, mj, stats = A._exact_solve(S, prob.m_free, "maximize_score", k_mentee=1, k_mentor_per_seat=0,
                                   add_per_mentee=1, chunk_cells=3)
    assert len(mi) == 5 and stats["rounds"] > 1 and stats["violations_per_round"][-1] == 0
    assert int(S[mi, mj].astype(np.int64).sum()) == units(assign([star, *others], mentees).totals.total_score)


# --------------------------------------------------------------------------- candidate lists at width


@pytest.mark.parametrize("seed", range(8))
def test_grouped_top_k_picks_the_k_largest_entries(seed):
    """_top_per_row / _best_rows_per_column look only inside the groups with the largest maxima once a
    row (column) is wide enough: they must still return k distinct positions holding exactly
    the k largest values, with heavy ties and ineligible (-1) entries."""
    rng = np.random.default_rng(seed)
    rows, width = int(rng.integers(1, 60)), int(rng.integers(1, 1200))
    block = rng.integers(-1, int(rng.integers(2, 60)), size=(rows, width)).astype(np.int16)
    for k in sorted({1, 3, 8, 17, 40, width}):
        kk = min(k, width)
        top = np.asarray(A._top_per_row(block, k))
        assert top.shape == (rows, kk)
        assert all(len(set(r)) == kk for r in top.tolist())
        np.testing.assert_array_equal(np.sort(np.take_along_axis(block, top, axis=1), axis=1),
                                      np.sort(block, axis=1)[:, width - kk:])
    S = block.T.copy()  # width x rows: columns of `width` mentees
    for k in sorted({1, 5, 30, width}):
        want = rng.integers(0, min(k, width) + 1, rows)  # each column its own count
        want[0] = min(k, width)
        for chunk_cells in (7, 1 << 20):
            bi, bj = A._best_rows_per_column(S, want, chunk_cells)
            np.testing.assert_array_equal(np.bincount(bj, minlength=rows), want)
            for j in range(rows):
                picked = bi[bj == j]
                assert len(set(picked.tolist())) == len(picked)
                values = S[picked, j]
                assert (np.diff(values.astype(np.int32)) <= 0).all()  # best first
                np.testing.assert_array_equal(values, -np.sort(-S[:, j])[: want[j]])


def dense_optimum_weight(S, free, mode):
    """Total objective weight of an optimum without pruning: every free seat a row of a dense
    assignment over all mentees plus "stays empty" columns (scipy's linear_sum_assignment)."""
    n = S.shape[0]
    seats = np.repeat(np.arange(S.shape[1]), free)
    big = 1e15
    weights = A._edge_weights(S[:, seats].T, n, mode).astype(np.float64)
    cost = np.concatenate([np.where(S[:, seats].T >= 0, -weights, big), np.zeros((len(seats), len(seats)))], axis=1)
    rows, cols = linear_sum_assignment(cost)
    return int(-cost[rows, cols][cols < n].sum())


@pytest.mark.parametrize("seed", range(6))
def test_exact_solver_equals_a_dense_optimum_on_wide_random_matrices(seed):
    """Score matrices wide enough for the grouped top-k (rows of 120 mentors, columns of 300
    mentees), coarse scores (many ties), a fifth of the pairs ineligible, 0-3 free seats, few
    first candidates (the proof must add pairs): the solver's pairs are feasible and weigh as much
    as a dense optimum over every seat and pair, in both modes."""
    rng = np.random.default_rng(seed)
    n, m = 300, 120
    S = (rng.integers(0, 40, (n, m)) * 250).astype(np.int16)
    S[rng.random((n, m)) < 0.2] = -1
    free = rng.integers(0, 4, m).astype(np.int64)
    for mode in ("maximize_score", "maximize_coverage"):
        mi, mj, stats = A._exact_solve(S, free, mode, k_mentee=2, k_mentor_per_seat=1, add_per_mentee=2,
                                       chunk_cells=2000)
        assert len(set(mi.tolist())) == len(mi)
        assert (np.bincount(mj, minlength=m) <= free).all() and (S[mi, mj] >= 0).all()
        assert int(A._edge_weights(S[mi, mj], n, mode).sum()) == dense_optimum_weight(S, free, mode)
        assert stats["violations_per_round"][-1] == 0
