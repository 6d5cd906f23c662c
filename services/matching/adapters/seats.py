"""A mentor's seats in a cohort, claimed by unique `_id` inserts (mentee requests, manual proposals).

Why: a request or a manual proposal checks the mentor's free seats in the views, then appends its
`PairingProposed` to a new stream; two of them for a mentor's last seat both saw it free and both
appended (each to its own stream: the store has nothing to refuse). On FerretDB v1 a counter
(`$inc`, `find_one_and_update`) loses updates under concurrency; a unique `_id` insert does not,
on FerretDB and mongod alike. So each seat is a slot, and a slot's holder is a document:

- `{cohort}|{mentor}|{n}|{g}` is generation g of seat n (n = 1..capacity): the pairing holding it
  (or a release). The newest generation present is the seat's holder; generations fill as a prefix
  (g+1 is tried only after g was read), so a reader walks g = 1, 2, ... by `_id` until one is missing.
- A claim inserts the next generation of a seat that is free: never claimed, released, or held by a
  pairing that is no longer open (declined, expired, ended, completed: the pairing's own stream
  says so, so a seat comes free the moment its pairing closes, without a write by the one closing
  it). Of two claimants of one seat, the unique insert lets exactly one win; the other reads the
  winner and tries the next seat, and gets `None` when every seat is held.
- Idempotent: a pairing that already holds a seat (a retried request) gets that seat again.
- A claim whose pairing has no stream yet (claimed a moment before its append) counts as held for
  `grace_s`, by the server's clock: after that it is taken for a claim whose append never happened
  (a crash). The window this leaves: a request paused between its claim and its append for longer
  than `grace_s` can still append after its seat was given to another.

Seats held by pairings that never claimed (matching runs' proposals, pairings made before this
existed) are claimed for them first by the claimant (`holders`: the mentor's open pairings in the
views), so they count too.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from pymongo.errors import DuplicateKeyError

SEAT_CLAIMS = "seat_claims"
GRACE_S = 60.0


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # pymongo reads naive UTC


class SeatClaims:
    def __init__(self, collection, *, now: Callable[[], datetime], holds: Callable[[str, str], bool | None],
                 grace_s: float = GRACE_S):
        self.collection = collection
        self.now = now  # the server's clock (shared.lease.server_now), so replicas agree on expiry
        self.holds = holds  # (pairing id, mentor id) -> an open pairing with that mentor? None: no stream yet
        self.grace_s = grace_s

    @staticmethod
    def key(cohort_id: str, mentor_id: str, seat: int, generation: int) -> str:
        return f"{cohort_id}|{mentor_id}|{seat}|{generation}"

    def _holder(self, cohort_id: str, mentor_id: str, seat: int) -> tuple[int, dict | None]:
        """The seat's newest generation and its document ((0, None): never claimed)."""
        generation, doc = 0, None
        while True:
            found = self.collection.find_one({"_id": self.key(cohort_id, mentor_id, seat, generation + 1)})
            if found is None:
                return generation, doc
            generation, doc = generation + 1, found

    def _held(self, doc: dict | None) -> bool:
        if doc is None or doc.get("pairing_id") is None:
            return False  # never claimed, or released
        is_open = self.holds(doc["pairing_id"], doc["mentor_id"])
        if is_open is None:  # claimed a moment ago, not appended yet (or never: then only until it expires)
            return self.now() < _aware(doc["expires_at"])
        return is_open

    def seat_of(self, cohort_id: str, mentor_id: str, pairing_id: str, capacity: int) -> int | None:
        for seat in range(1, capacity + 1):
            _, doc = self._holder(cohort_id, mentor_id, seat)
            if doc is not None and doc.get("pairing_id") == pairing_id:
                return seat
        return None

    def claim(self, cohort_id: str, mentor_id: str, pairing_id: str, capacity: int, *,
              holders: Iterable[str] = ()) -> int | None:
        """The seat `pairing_id` holds (claimed now, or before); None when every seat is held."""
        for holder in holders:
            if holder != pairing_id and self.seat_of(cohort_id, mentor_id, holder, capacity) is None:
                self._take(cohort_id, mentor_id, holder, capacity)
        mine = self.seat_of(cohort_id, mentor_id, pairing_id, capacity)
        return mine if mine is not None else self._take(cohort_id, mentor_id, pairing_id, capacity)

    def _take(self, cohort_id: str, mentor_id: str, pairing_id: str, capacity: int) -> int | None:
        for seat in range(1, capacity + 1):
            while True:
                generation, doc = self._holder(cohort_id, mentor_id, seat)
                if doc is not None and doc.get("pairing_id") == pairing_id:
                    return seat
                if self._held(doc):
                    break  # the next seat
                try:
                    self.collection.insert_one({
                        "_id": self.key(cohort_id, mentor_id, seat, generation + 1), "cohort_id": cohort_id,
                        "mentor_id": mentor_id, "pairing_id": pairing_id,
                        "expires_at": self.now() + timedelta(seconds=self.grace_s)})
                    return seat
                except DuplicateKeyError:
                    continue  # another claimant took this generation: read who, and decide again
        return None

    def release(self, cohort_id: str, mentor_id: str, pairing_id: str, seat: int) -> None:
        """Give back a seat whose pairing was never appended (the append was refused): the next
        generation, a release, if the pairing still holds it."""
        generation, doc = self._holder(cohort_id, mentor_id, seat)
        if doc is None or doc.get("pairing_id") != pairing_id:
            return
        try:
            self.collection.insert_one({"_id": self.key(cohort_id, mentor_id, seat, generation + 1),
                                        "cohort_id": cohort_id, "mentor_id": mentor_id, "pairing_id": None,
                                        "released": pairing_id})
        except DuplicateKeyError:
            pass  # someone took the seat meanwhile (our claim was past its grace): it is theirs
