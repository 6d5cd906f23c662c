"""Mentoring circles (issue 15), no servers: the exact circle optimiser against brute force, the
cohort's format settings, and a circle cohort's run, circles and visibility on in-memory adapters."""
from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from shared.errors import Conflict, Invalid
from shared.events.catalog import matching as ev
from services.matching.application.circles import circle_out, co_members, member_count
from services.matching.domain import assignment as A
from services.matching.domain import cohort
from services.matching.domain.assignment import MenteeCandidate, MentorCandidate
from services.matching.domain.circles import assign_circles, circle_id_for
from services.matching.domain.rules import MatchingRules
from tests.unit.matching.conftest import ADMIN, REQUEST
from tests.unit.matching.test_lifecycle import _apply, _cohort

TOPICS = ["python", "leadership", "sales", "hiring", "design"]
RULES = MatchingRules.from_dict({"min_level_gap": 1})


# ------------------------------------------------------------------------------ the optimiser

def _instance(seed: int, n: int, m: int):
    r = random.Random(seed)
    mentors = [MentorCandidate(employee_id=f"M{j}", level=r.randint(3, 6), languages=("en",),
                               department=r.choice("xy"), topics=tuple(r.sample(TOPICS, 2)),
                               capacity=r.randint(1, 5), seats_taken=r.choice([0, 0, 0, 1, 2]),
                               exclude=(f"E{r.randint(0, n)}",)) for j in range(m)]
    mentees = [MenteeCandidate(employee_id=f"E{i}", level=r.randint(1, 4), languages=("en",),
                               department=r.choice("xy"), topics=tuple(r.sample(TOPICS, 2))) for i in range(n)]
    return mentors, mentees


def _brute_force(mentors, mentees, forbidden, mode, min_size, max_size) -> int:
    """The best total edge weight over every way to put each mentee in one circle or none."""
    capped = [replace(m, capacity=min(m.capacity, max_size)) for m in mentors]
    prob = A._Problem(capped, mentees, RULES, forbidden, None)
    S = prob.score_matrix()
    n, m = S.shape
    weight = A._edge_weights(np.maximum(S, 0), n, mode)
    best = 0
    for choice in itertools.product(range(-1, m), repeat=n):
        if any(j >= 0 and S[i, j] < 0 for i, j in enumerate(choice)):
            continue
        load = np.bincount([j for j in choice if j >= 0], minlength=m)
        taken = np.array([c.seats_taken for c in prob.mentors])
        if np.any(load > prob.m_free) or np.any((taken == 0) & (load > 0) & (load < min_size)):
            continue
        best = max(best, int(sum(weight[i, j] for i, j in enumerate(choice) if j >= 0)))
    return best


@pytest.mark.parametrize("seed", range(25))
def test_circles_are_exactly_optimal_against_brute_force(seed):
    r = random.Random(1000 + seed)
    mentors, mentees = _instance(seed, 6, 3)
    min_size = r.randint(1, 4)
    max_size = r.randint(min_size, 5)
    forbidden = [("M0", "E1")]
    for mode in ev.MATCHING_MODES:
        result = assign_circles(mentors, mentees, RULES, forbidden, mode, min_size=min_size, max_size=max_size)
        assert result.stats["status"] == 0 and result.stats["dual_bound"] < result.stats["objective"] + 1
        assert result.stats["proof"] in ("empty", "relaxation", "tight_edges", "milp")
        assert result.stats["objective"] == _brute_force(mentors, mentees, forbidden, mode, min_size, max_size)
        # the rules hold in the answer itself
        by_id = {m.employee_id: m for m in mentors}
        load: dict[str, int] = {}
        for p in result.assignments:
            mentor = by_id[p.mentor_id]
            mentee = next(e for e in mentees if e.employee_id == p.mentee_id)
            assert A.eligibility_violations(replace(mentor, capacity=min(mentor.capacity, max_size)), mentee, RULES,
                                            forbidden) == []
            load[p.mentor_id] = load.get(p.mentor_id, 0) + 1
        for mentor_id, added in load.items():
            mentor = by_id[mentor_id]
            assert mentor.seats_taken + added <= min(mentor.capacity, max_size)
            assert mentor.seats_taken > 0 or added >= min_size
        assert len({p.mentee_id for p in result.assignments}) == len(result.assignments)


def test_the_minimum_keeps_a_circle_closed_that_pairs_would_use():
    """Two mentors of three seats, four eligible mentees, circles of at least three: one circle
    opens with three members and the fourth mentee waits (pairs would match all four)."""
    mentors = [MentorCandidate(employee_id=f"M{j}", level=6, languages=("en",), topics=("python",), capacity=3)
               for j in range(2)]
    mentees = [MenteeCandidate(employee_id=f"E{i}", level=3, languages=("en",), topics=("python",))
               for i in range(4)]
    pairs = A.assign(mentors, mentees, RULES)
    circles = assign_circles(mentors, mentees, RULES, min_size=3, max_size=8)
    assert pairs.totals.matched == 4
    assert circles.totals.matched == 3 and len({p.mentor_id for p in circles.assignments}) == 1
    assert circles.method == "circle_milp" and circles.stats["circles_opened"] == 1
    (waiting, reason), = circles.unmatched.items()
    assert reason.code == A.UNMATCHED_SEATS and "minimum size" in reason.text
    # an open circle (a member already there) takes more with no minimum; a mentor with fewer seats
    # than the minimum opens none
    opened = [replace(mentors[0], seats_taken=1), replace(mentors[1], capacity=2)]
    again = assign_circles(opened, mentees, RULES, min_size=3, max_size=8)
    assert {p.mentor_id for p in again.assignments} == {"M0"} and again.totals.matched == 2


def test_a_circle_result_is_deterministic_and_has_the_pairs_shape():
    mentors, mentees = _instance(3, 7, 3)
    first = assign_circles(mentors, mentees, RULES, min_size=2, max_size=4)
    second = assign_circles(list(reversed(mentors)), list(reversed(mentees)), RULES, min_size=2, max_size=4)
    assert first.to_dict() == second.to_dict()
    assert [p.mentee_id for p in first.assignments] == sorted(p.mentee_id for p in first.assignments)
    assert set(first.unmatched) | {p.mentee_id for p in first.assignments} == {e.employee_id for e in mentees}
    assert first.input_hash != assign_circles(mentors, mentees, RULES, min_size=3, max_size=4).input_hash
    with pytest.raises(ValueError):
        assign_circles(mentors, mentees, RULES, min_size=4, max_size=3)


def test_a_circle_id_is_computed_url_safe_and_one_per_mentor_and_cohort():
    circle_id = circle_id_for("coh-1", "M1")
    assert circle_id == circle_id_for("coh-1", "M1") != circle_id_for("coh-2", "M1")
    assert circle_id.startswith("cir-") and len(circle_id) == 36 and circle_id[4:].isalnum()


# ------------------------------------------------------------------------------ cohort settings

def test_a_cohort_is_a_pair_cohort_unless_it_says_circle_and_old_events_load_so():
    state = _cohort("draft")
    assert (state.format, state.circle_min_size, state.circle_max_size) == ("pair", 3, 8)
    old = {"cohort_id": "c0", "program_id": "p", "name": "Old", "starts_on": "2025-01-01", "ends_on": "2025-06-01",
           "status": "draft", "meeting_cadence_days": 14, "answer_deadline_days": 7, "rules": {}, "created_by": "a"}
    from shared.events.catalog import default_registry
    loaded = default_registry().validate_data(ev.COHORT_CREATED, 1, old)
    assert (loaded["format"], loaded["circle_min_size"], loaded["circle_max_size"]) == ("pair", 3, 8)


@pytest.mark.parametrize("changes, field", [
    ({"circle_min_size": 0}, "circle_min_size"),
    ({"circle_max_size": 9}, "circle_max_size"),
    ({"circle_min_size": 5, "circle_max_size": 4}, "circle_min_size"),
    ({"circle_max_size": 2}, "circle_max_size"),  # below the stored minimum 3
    ({"format": "group"}, "format"),
    ({"format": "circle", "matching_style": "mentee_choice"}, "format"),
])
def test_bad_circle_settings_name_the_field(changes, field):
    with pytest.raises(Invalid) as refused:
        cohort.revise(_cohort("draft"), changes, "admin")
    assert refused.value.field == field


def test_the_format_changes_only_before_anyone_can_be_paired_and_the_next_intake_copies_it():
    state = _cohort("enrolling")
    _apply(state, cohort.revise(state, {"format": "circle", "circle_min_size": 4, "circle_max_size": 6}, "admin"))
    assert (state.is_circle, state.circle_min_size, state.circle_max_size) == (True, 4, 6)
    with pytest.raises(Invalid):
        cohort.revise(state, {"matching_style": "both"}, "admin")  # a circle cohort is matched by its admins
    _apply(state, cohort.change_status(state, "matching", "admin"))
    with pytest.raises(Conflict) as locked:
        cohort.revise(state, {"format": "pair"}, "admin")
    assert locked.value.code == "format_locked"
    _apply(state, cohort.revise(state, {"circle_max_size": 5}, "admin"))  # sizes: for the runs to come
    copy = _apply(cohort.CohortState(), cohort.duplicate(state, cohort_id="c2", name="Next",
                                                         starts_on=date(2026, 9, 1), ends_on=date(2027, 3, 1),
                                                         created_by="admin"))
    assert (copy.format, copy.circle_min_size, copy.circle_max_size) == ("circle", 4, 5)


# ------------------------------------------------------------------------------ a circle cohort, in memory

def _circle_cohort(matching, *, mentors=2, mentees=5, capacity=3) -> str:
    program_id = matching.commands.create_program("P", None, ADMIN, REQUEST)
    cohort_id = matching.commands.create_cohort(
        program_id, name="Circles", starts_on=date(2026, 3, 1), ends_on=date(2026, 8, 31), meeting_cadence_days=14,
        answer_deadline_days=7, rules=MatchingRules(), actor=ADMIN, causation=REQUEST, format="circle",
        circle_min_size=2, circle_max_size=3)["cohort_id"]
    matching.commands.change_cohort_status(cohort_id, "enrolling", ADMIN, REQUEST)
    for j in range(mentors):
        matching.hire(f"M{j}", level=7)
        matching.enroll(cohort_id, f"M{j}", "mentor", capacity=capacity)
    for i in range(mentees):
        matching.hire(f"E{i}", level=3)
        matching.enroll(cohort_id, f"E{i}", "mentee")
    matching.commands.change_cohort_status(cohort_id, "matching", ADMIN, REQUEST)
    return cohort_id


def test_a_circle_run_proposes_members_with_their_circle_and_the_circles_view_follows(matching):
    cohort_id = _circle_cohort(matching)
    assert matching.commands.cohort_document(cohort_id)["format"] == "circle"
    preview = matching.run(cohort_id, dry_run=True)
    assert preview["matched"] == 5 and matching.pairings(cohort_id) == {}
    assert sorted(len(c["mentee_ids"]) for c in preview["circles"]) == [2, 3]  # min 2, max 3
    result = matching.run(cohort_id)
    pairings = matching.pairings(cohort_id)
    assert len(pairings) == 5
    for doc in pairings.values():
        assert doc["circle_id"] == circle_id_for(cohort_id, doc["mentor_id"])
        event = matching.store.load(doc["_id"]).events[0]
        assert event.data["circle_id"] == doc["circle_id"]
    assert {c["circle_id"] for c in result["circles"]} == {d["circle_id"] for d in pairings.values()}
    circles, _ = matching.views.circles_page(cohort_id, after=None, limit=50)
    assert sorted(member_count(c) for c in circles) == [2, 3]

    # one member declines: the circle shows it to its mentor and admins, not to the other members
    big = next(c for c in circles if member_count(c) == 3)
    leaver, stayer, other = (m["mentee_id"] for m in big["members"])
    leaving = next(m["pairing_id"] for m in big["members"] if m["mentee_id"] == leaver)
    matching.commands.decline(leaving, ADMIN, "mentee", None, REQUEST)
    matching.projector.catch_up()
    doc = matching.views.circles.get(big["_id"])
    assert {m["mentee_id"]: m["status"] for m in doc["members"]}[leaver] == "declined"
    assert len(circle_out(doc, reader=doc["mentor_id"], reader_is_admin=False)["members"]) == 3
    seen_by_member = circle_out(doc, reader=stayer, reader_is_admin=False)
    assert {m["mentee_id"] for m in seen_by_member["members"]} == {stayer, other}
    assert circle_out(doc, reader=leaver, reader_is_admin=False) is None
    small = next(c for c in circles if c["_id"] != big["_id"])
    assert circle_out(doc, reader=small["members"][0]["mentee_id"], reader_is_admin=False) is None
    # co-members see each other's card; the one who left and members of other circles do not
    assert co_members(matching.views, stayer, other) and co_members(matching.views, other, stayer)
    assert not co_members(matching.views, stayer, leaver)
    assert not co_members(matching.views, stayer, small["members"][0]["mentee_id"])

    # an admin's manual proposal joins the mentor's circle, within its seats
    matching.hire("E9", level=3)
    matching.enroll(cohort_id, "E9", "mentee")
    manual = matching.commands.propose_manually(cohort_id, big["mentor_id"], "E9", ADMIN, REQUEST)
    assert manual["circle_id"] == big["_id"]
    matching.hire("E10", level=3)
    matching.enroll(cohort_id, "E10", "mentee")
    with pytest.raises(Invalid) as full:
        matching.commands.propose_manually(cohort_id, big["mentor_id"], "E10", ADMIN, REQUEST)
    assert full.value.extra["violated_rules"] == ["capacity"]
    # the circles view is a pure function of the events: a rebuild writes the same documents
    live = matching.view_state()["circles"]
    assert len(live) == 2
    matching.views_projection.reset()
    matching.projector.rewind()
    assert matching.view_state()["circles"] == live


def test_mentees_do_not_choose_in_a_circle_cohort(matching):
    cohort_id = _circle_cohort(matching, mentors=1, mentees=1)
    with pytest.raises(Conflict) as refused:
        matching.commands.suggestions(cohort_id, "E0", limit=5)
    assert refused.value.code == "circle_cohort"
    with pytest.raises(Conflict) as refused:
        matching.commands.request_mentor(cohort_id, "E0", "M0", None, REQUEST)
    assert refused.value.code == "circle_cohort"
