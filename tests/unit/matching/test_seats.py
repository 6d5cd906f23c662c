"""A mentor's last seat goes to one request or manual proposal (adapters/seats.py): unique `_id`
claims decide what the views cannot (both saw the seat free), on the in-memory service."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.errors import Invalid
from services.matching.adapters.seats import SeatClaims
from tests.unit.matching.conftest import ADMIN, REQUEST
from tests.unit.matching.fakes import MemoryCollection
from tests.unit.matching.test_choice import _ask, _choosing, party

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class _Pairings:
    """Which pairings exist and are open with which mentor (what the pairing streams say)."""

    def __init__(self):
        self.open: dict[str, str | None] = {}  # pairing id -> mentor while open; None once closed

    def holds(self, pairing_id: str, mentor_id: str) -> bool | None:
        if pairing_id not in self.open:
            return None
        return self.open[pairing_id] == mentor_id


def _claims(clock=None):
    pairings, moment = _Pairings(), [clock or NOW]
    return SeatClaims(MemoryCollection(), now=lambda: moment[0], holds=pairings.holds, grace_s=60), pairings, moment


def test_of_two_claims_for_the_last_seat_one_wins_and_a_retry_gets_its_own_seat_again():
    seats, pairings, _ = _claims()
    assert seats.claim("C1", "M1", "P1", 2) == 1
    pairings.open["P1"] = "M1"
    assert seats.claim("C1", "M1", "P2", 2) == 2
    assert seats.claim("C1", "M1", "P3", 2) is None  # both seats held: the loser
    assert seats.claim("C1", "M1", "P2", 2) == 2  # the same pairing again: its seat, no second one


def test_a_seat_comes_free_when_its_pairing_closes_and_a_never_appended_claim_after_its_grace():
    seats, pairings, moment = _claims()
    assert seats.claim("C1", "M1", "P1", 1) == 1
    pairings.open["P1"] = "M1"
    assert seats.claim("C1", "M1", "P2", 1) is None
    pairings.open["P1"] = None  # declined, expired or ended
    assert seats.claim("C1", "M1", "P2", 1) == 1  # P2 claimed, then crashed before appending
    assert seats.claim("C1", "M1", "P3", 1) is None  # within its grace P2 may still append
    moment[0] = NOW + timedelta(seconds=61)
    assert seats.claim("C1", "M1", "P3", 1) == 1


def test_a_refused_append_gives_its_seat_back_at_once():
    seats, _, _ = _claims()
    assert seats.claim("C1", "M1", "P1", 1) == 1
    seats.release("C1", "M1", "P1", 1)
    assert seats.claim("C1", "M1", "P2", 1) == 1
    seats.release("C1", "M1", "P1", 1)  # a late release of a seat now someone else's changes nothing
    assert seats.claim("C1", "M1", "P3", 1) is None


def test_open_pairings_that_never_claimed_a_seat_hold_one_too():
    seats, pairings, _ = _claims()
    pairings.open["RUN1"] = "M1"  # a run's proposal (runs do not claim)
    assert seats.claim("C1", "M1", "P1", 2, holders=["RUN1"]) == 2
    pairings.open["P1"] = "M1"
    assert seats.claim("C1", "M1", "P2", 2, holders=["RUN1"]) is None


def test_a_request_for_a_seat_another_request_took_a_moment_ago_is_refused_no_seats_left(matching):
    cohort_id = _choosing(matching)
    # another API process claimed M003's only seat and is appending its request: the views show the seat free
    assert matching.commands.seats.claim(cohort_id, "M003", "req-elsewhere", 1) == 1
    assert "M003" in [i["mentor_id"] for i in matching.commands.suggestions(cohort_id, "E003", limit=10)["items"]]
    with pytest.raises(Invalid) as refused:
        _ask(matching, cohort_id, "E003", "M003")
    assert (refused.value.code, refused.value.field) == ("no_seats_left", "mentor_id")
    with pytest.raises(Invalid) as by_hand:
        matching.commands.propose_manually(cohort_id, "M003", "E002", ADMIN, REQUEST)
    assert (by_hand.value.code, by_hand.value.field) == ("no_seats_left", "mentor_id")


def test_a_declined_request_frees_the_seat_for_the_next_one_and_a_retry_keeps_its_seat(matching):
    cohort_id = _choosing(matching)
    first = _ask(matching, cohort_id, "E002", "M003")
    assert _ask(matching, cohort_id, "E002", "M003")["pairing_id"] == first["pairing_id"]  # retried: the same
    matching.commands.decline(first["pairing_id"], party("M003"), None, None, REQUEST)
    second = _ask(matching, cohort_id, "E003", "M003")
    assert second["status"] == "proposed" and second["mentor_id"] == "M003"
