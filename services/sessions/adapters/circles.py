"""The circles view (domain/circles.py): which pairings, active or not, belong to which circle.

Fed by matching's pairing events. Only PairingProposed names the circle, so the view remembers each
member pairing's circle, and every later event of that pairing finds it there. Like the engagement
roster (adapters/roster.py), every read is an exact `{_id: <string>}` filter and every document has
one writer, the consumer of one partition of matching's topic (pairing events are keyed by pairing id):

- `circle_members`, `_id` = the pairing id: its circle (inserted once; a pairing never changes circle);
- `circles`, `_id` `"{circle_id}|{partition}"`: the circle's member pairings seen in that partition,
  `version` the offset of the last record that changed it. A reader reads partitions 0, 1, ... until
  one is missing; a writer creating partition p's document first inserts empty placeholders below it.
"""
from __future__ import annotations

import json

from pymongo.errors import DuplicateKeyError

from shared.mongo import replace_if_newer
from services.sessions.domain.circles import Circle, CirclePart

CIRCLES = "circles"
CIRCLE_MEMBERS = "circle_members"
MAX_PARTITIONS = 1024
PLACEHOLDER = -1


def part_id(circle_id: str, partition: int) -> str:
    return f"{circle_id}|{partition}"


class CirclesView:
    def __init__(self, database):
        self.parts = database[CIRCLES]
        self.memberships = database[CIRCLE_MEMBERS]

    # -- the consumer's side ----------------------------------------------------------------------

    def circle_of(self, pairing_id: str) -> str | None:
        doc = self.memberships.find_one({"_id": pairing_id})
        return doc["circle_id"] if doc else None

    def remember(self, pairing_id: str, circle_id: str) -> None:
        try:
            self.memberships.insert_one({"_id": pairing_id, "circle_id": circle_id})
        except DuplicateKeyError:
            pass  # a redelivered PairingProposed: the same circle

    def load(self, circle_id: str, partition: int) -> tuple[int | None, CirclePart]:
        doc = self.parts.find_one({"_id": part_id(circle_id, partition)})
        if doc is None:
            return None, CirclePart()
        return int(doc["version"]), _part(doc)

    def save(self, circle_id: str, partition: int, offset: int, part: CirclePart, *, exists: bool) -> bool:
        if not exists:
            self._placeholders_below(circle_id, partition)
        doc = {"_id": part_id(circle_id, partition), "circle_id": circle_id, "cohort_id": part.cohort_id,
               "mentor_id": part.mentor_id, "version": offset,
               "members": json.dumps(part.members, separators=(",", ":"), sort_keys=True)}
        return replace_if_newer(self.parts, doc, likely_new=not exists)

    def _placeholders_below(self, circle_id: str, partition: int) -> None:
        for lower in range(partition):
            if self.parts.find_one({"_id": part_id(circle_id, lower)}, {"_id": 1}) is not None:
                continue
            try:
                self.parts.insert_one({"_id": part_id(circle_id, lower), "circle_id": circle_id, "cohort_id": "",
                                       "mentor_id": "", "version": PLACEHOLDER, "members": "{}"})
            except DuplicateKeyError:
                pass  # its own consumer came first: never overwrite

    # -- readers ----------------------------------------------------------------------------------

    def get(self, circle_id: str) -> Circle | None:
        """The circle from every partition's part (None: no pairing names it)."""
        parts = []
        for partition in range(MAX_PARTITIONS):
            doc = self.parts.find_one({"_id": part_id(circle_id, partition)})
            if doc is None:
                break
            parts.append(_part(doc))
        return Circle.of_parts(circle_id, parts)

    def drop(self) -> None:
        self.parts.drop()
        self.memberships.drop()


def _part(doc: dict) -> CirclePart:
    return CirclePart(cohort_id=doc.get("cohort_id") or "", mentor_id=doc.get("mentor_id") or "",
                      members=json.loads(doc["members"]))
