"""Programme outcomes: promotion and retention of mentees against matched non-participants."""
from datetime import date

from services.matching.application.outcomes import person_of
from services.matching.domain.outcomes import K, Person, add_months, outcomes, wilson

T0 = date(2025, 3, 1)


def person(eid, level=3, department="Eng", hired=date(2022, 1, 1), promoted_on=None, left_on=None, seen=date(2025, 1, 1)):
    history = ((seen, level),) + (((promoted_on, level + 1),) if promoted_on else ())
    return Person(eid, department, hired, left_on, history)


def world(mentees_promoted: int, mentees: int, peers_promoted: int, peers: int, **peer_kwargs):
    people = {}
    for i in range(mentees):
        people[f"M{i}"] = person(f"M{i}", promoted_on=date(2025, 6, 1) if i < mentees_promoted else None)
    for i in range(peers):
        people[f"P{i}"] = person(f"P{i}", promoted_on=date(2025, 6, 1) if i < peers_promoted else None, **peer_kwargs)
    return people, [(f"M{i}", T0) for i in range(mentees)]


def horizon(result, months):
    return next(h for h in result["horizons"] if h["months"] == months)


def test_mentees_promoted_more_often_than_matched_peers_show_it_with_intervals():
    people, mentees = world(6, 10, 4, 40)
    result = outcomes(mentees, people, excluded={m for m, _ in mentees}, as_of=date(2026, 4, 1))
    six = horizon(result, 6)["promotion"]
    assert six["mentees"]["rate"] == 0.6 and six["comparison"]["rate"] == 0.1
    assert six["mentees"]["n"] == 10 and six["comparison"]["n"] == 40
    low, high = wilson(6, 10)
    assert (six["mentees"]["ci_low"], six["mentees"]["ci_high"]) == (round(low, 4), round(high, 4))
    assert six["comparison"]["ci_low"] < 0.1 < six["comparison"]["ci_high"]
    assert horizon(result, 12)["retention"]["mentees"]["rate"] == 1.0


def test_peers_are_matched_on_level_department_and_tenure_not_the_whole_company():
    people, mentees = world(0, 5, 0, 5)
    for i in range(50):  # seniors in another department, all promoted: not comparable
        people[f"S{i}"] = person(f"S{i}", level=8, department="Sales", promoted_on=date(2025, 5, 1))
    for i in range(50):  # same level and department but hired last month: another tenure band
        people[f"N{i}"] = person(f"N{i}", hired=date(2025, 2, 1), promoted_on=date(2025, 5, 1))
    result = outcomes(mentees, people, excluded={m for m, _ in mentees}, as_of=date(2026, 4, 1))
    assert horizon(result, 6)["promotion"]["comparison"] == {"n": 5, "rate": 0.0, "ci_low": 0.0,
                                                             "ci_high": horizon(result, 6)["promotion"]["comparison"]["ci_high"],
                                                             "suppressed": False}


def test_fewer_than_k_people_behind_a_figure_publish_nothing_and_small_strata_are_left_out():
    people, mentees = world(2, K - 1, 1, 30)
    result = outcomes(mentees, people, excluded={m for m, _ in mentees}, as_of=date(2026, 4, 1))
    assert horizon(result, 6)["promotion"]["mentees"] == {"n": K - 1, "rate": None, "ci_low": None, "ci_high": None,
                                                          "suppressed": True}
    people, mentees = world(3, 8, 0, K - 1)  # too few peers like them: nobody is compared
    result = outcomes(mentees, people, excluded={m for m, _ in mentees}, as_of=date(2026, 4, 1))
    assert horizon(result, 6)["unmatched"] == 8 and horizon(result, 6)["promotion"]["mentees"]["suppressed"]


def test_a_horizon_counts_only_mentees_observed_that_long_and_leavers_lower_retention():
    people, mentees = world(0, 10, 0, 20)
    people["M0"] = person("M0", left_on=date(2025, 5, 1))
    people["M1"] = person("M1", left_on=date(2025, 11, 1))
    result = outcomes(mentees, people, excluded={m for m, _ in mentees}, as_of=add_months(T0, 7))
    assert horizon(result, 6)["retention"]["mentees"]["rate"] == 0.9  # M1 left after month 6
    assert horizon(result, 12)["mentees_observed"] == 0
    assert horizon(result, 12)["retention"]["mentees"]["suppressed"]


def test_participants_never_count_as_their_own_comparison():
    people, mentees = world(5, 5, 0, 10)
    people["X"] = person("X", promoted_on=date(2025, 6, 1))  # enrolled, never paired: excluded too
    result = outcomes(mentees, people, excluded={m for m, _ in mentees} | {"X"}, as_of=date(2026, 4, 1))
    assert horizon(result, 6)["promotion"]["comparison"]["rate"] == 0.0


def test_the_directory_keeps_level_runs_by_day_whatever_order_records_arrive_in():
    from shared.directory import fold
    from shared.events.envelope import Envelope
    from tests.helpers import hris_upsert

    records = [Envelope.from_hris(hris_upsert("E1", occurred_at=at, level=level)) for at, level in (
        ("2026-01-01T09:00:00Z", 3), ("2026-02-01T09:00:00Z", 3), ("2026-05-01T09:00:00Z", 4),
        ("2026-05-01T17:00:00Z", 4), ("2026-09-01T09:00:00Z", 5))]
    expected = ["2026-01-01:3", "2026-05-01:4", "2026-09-01:5"]
    for order in (records, records[::-1], records[2:] + records[:2] + records):  # replays and redeliveries too
        doc, _ = fold("E1", order, level_history=True)
        assert doc["level_history"] == expected and doc["level"] == 5
    person = person_of(doc)
    assert (person.level_on(date(2025, 12, 31)), person.level_on(date(2026, 6, 1))) == (None, 4)
    assert "level_history" not in fold("E1", records)[0]  # the other services keep no history
