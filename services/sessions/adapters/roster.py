"""The engagement roster's documents (domain/roster.py says what they hold; issue 14).

Every read is an exact `{_id: <string>}` filter, the one FerretDB v1 answers from an index, and
every document has exactly one writer (FerretDB v1 does not isolate a read-modify-write):

- `roster_pairs`, `_id` `"{cohort_id}|{partition}"`: the cohort's pairings in one partition of
  matching's topic, written only by the consumer of that partition (`shared.consumer.record_of`);
  `version` is the offset of the last record that changed it, so a redelivered record (at or below
  it) is recognised before anything is parsed. A reader does not know how many partitions the topic
  has (3 locally, 6 in Kubernetes, more later): it reads partitions 0, 1, 2, ... until one is
  missing, so a consumer creating partition p's document first inserts an empty placeholder for
  every lower partition still missing (an `_id` insert: it never overwrites; the partition's own
  consumer replaces it later). Entries are one JSON string field each (`active`, `other`):
  FerretDB's cost follows the number of values in a document, and the report reads `active` only.
- `roster_meetings`, `_id` = the cohort id: per pairing [meetings held, minutes, last held at,
  agreed cadence], one JSON string; `roster_held`, `_id` = the pairing id: its held meetings. Both
  written only by the store projector; `version` is the store order (`shared.projector.order_of`)
  of the last event applied. A held meeting's pairing list is written first, the cohort's summary
  (derived from that list) last, so a replay after a crash in between finishes the summary.
"""
from __future__ import annotations

import json
from typing import Callable

from pymongo.errors import DuplicateKeyError

from shared.mongo import replace_if_newer
from services.sessions.domain.roster import ActivePair, HeldMeetings, MeetingsPart, PairsPart, PairStats

ROSTER_PAIRS = "roster_pairs"
ROSTER_MEETINGS = "roster_meetings"
ROSTER_HELD = "roster_held"
MAX_PARTITIONS = 1024  # a reader's bound on partitions to look for (Kafka topics have far fewer)
WINDOW = 4  # partition documents a reader asks for at once (3 partitions locally: one round)
PLACEHOLDER = -1  # the version of a partition's document its consumer has not written yet


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def pairs_id(cohort_id: str, partition: int) -> str:
    return f"{cohort_id}|{partition}"


class RosterPairs:
    """The pairs part: written by the matching topic's consumers (one per partition), read by the report."""

    def __init__(self, database):
        self.collection = database[ROSTER_PAIRS]

    def load(self, cohort_id: str, partition: int) -> tuple[int | None, PairsPart]:
        """(the offset it reflects, or None when there is no document yet; the part)."""
        doc = self.collection.find_one({"_id": pairs_id(cohort_id, partition)})
        if doc is None:
            return None, PairsPart()
        return int(doc["version"]), PairsPart(json.loads(doc["active"]), json.loads(doc["other"]))

    def save(self, cohort_id: str, partition: int, offset: int, part: PairsPart, *, exists: bool) -> bool:
        doc = {"_id": pairs_id(cohort_id, partition), "cohort_id": cohort_id, "partition": partition,
               "version": offset, "active": _dumps(part.active), "other": _dumps(part.other)}
        if not exists:
            self._placeholders_below(cohort_id, partition)
        return replace_if_newer(self.collection, doc, likely_new=not exists)

    def _placeholders_below(self, cohort_id: str, partition: int) -> None:
        """Lower partitions' documents, empty, where missing: readers stop at the first one missing."""
        for lower in range(partition):
            if self.collection.find_one({"_id": pairs_id(cohort_id, lower)}, {"_id": 1}) is not None:
                continue
            try:
                self.collection.insert_one({"_id": pairs_id(cohort_id, lower), "cohort_id": cohort_id,
                                            "partition": lower, "version": PLACEHOLDER, "active": "{}",
                                            "other": "{}"})
            except DuplicateKeyError:
                pass  # its own consumer (or another placeholder) came first: never overwrite

    def active(self, cohort_id: str, read: Callable = map) -> dict[str, ActivePair]:
        """The cohort's active pairings, every partition's (the report's read: `_id` look-ups only).

        Partitions are read `WINDOW` at a time with `read` (a pool's `map` reads them side by side),
        until one is missing."""
        pairs: dict[str, ActivePair] = {}
        for first in range(0, MAX_PARTITIONS, WINDOW):
            ids = [pairs_id(cohort_id, partition) for partition in range(first, first + WINDOW)]
            for doc in read(lambda doc_id: self.collection.find_one({"_id": doc_id}), ids):
                if doc is None:
                    return pairs
                pairs.update(PairsPart(json.loads(doc["active"])).pairs())
        return pairs

    def drop(self) -> None:
        self.collection.drop()


class RosterMeetings:
    """The meetings part: written by the store projector, read by the report."""

    def __init__(self, database):
        self.cohorts = database[ROSTER_MEETINGS]
        self.pairings = database[ROSTER_HELD]

    def load_held(self, pairing_id: str) -> tuple[int | None, HeldMeetings]:
        doc = self.pairings.find_one({"_id": pairing_id})
        if doc is None:
            return None, HeldMeetings()
        return int(doc["version"]), HeldMeetings(json.loads(doc["held"]))

    def save_held(self, pairing_id: str, cohort_id: str, version: int, held: HeldMeetings, *, exists: bool) -> bool:
        doc = {"_id": pairing_id, "cohort_id": cohort_id, "version": version, "held": _dumps(held.meetings)}
        return replace_if_newer(self.pairings, doc, likely_new=not exists)

    def load(self, cohort_id: str) -> tuple[int | None, MeetingsPart]:
        doc = self.cohorts.find_one({"_id": cohort_id})
        if doc is None:
            return None, MeetingsPart()
        return int(doc["version"]), MeetingsPart(json.loads(doc["pairs"]))

    def save(self, cohort_id: str, version: int, part: MeetingsPart, *, exists: bool) -> bool:
        doc = {"_id": cohort_id, "version": version, "pairs": _dumps(part.pairs)}
        return replace_if_newer(self.cohorts, doc, likely_new=not exists)

    def stats(self, cohort_id: str) -> dict[str, PairStats]:
        return self.load(cohort_id)[1].stats()

    def drop(self) -> None:
        self.cohorts.drop()
        self.pairings.drop()
