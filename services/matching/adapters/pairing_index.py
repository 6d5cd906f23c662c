"""A cohort's pairings, stored so that every reader of "the cohort's pairings" does a few `_id` reads.

Who holds a mentor's seats, which mentees are paired, which pairs are forbidden (a run's inputs and
every suggestions call), the active pairings a closing cohort completes, the mentees a programme's
outcomes observe, the proposals past their answer deadline: all need, per pairing, only its parties,
its status and its deadline. A `{cohort_id}` or `{status}` filter scans every cohort's pairings on
FerretDB v1 (1.4 s of a suggestions call at 3,000 open pairings; 30,000 pairings in an organisation
of 100,000), so the entries are kept here, per cohort, in the enrolments index's layout
(adapters/enrollment_index.py): content-defined chunks of `[pairing id, mentor id, mentee id,
status, answer_by]` in pairing id order, in one JSON string each, and a directory per cohort counting
each chunk's entries by status (a reader wanting only active or proposed pairings skips the rest).

Written only by the views projection, before the pairing document (a crash in between applies the
event again: setting an entry twice is harmless), whenever a pairing is new or its entry changes (a
run of pairing events, such as a matching run's proposals: saved once per cohort, then the documents);
every document's `version` is the store order of the last event that changed it. A rebuild, which
applies the same events, writes the same documents (chunk boundaries depend only on the ids).
"""
from __future__ import annotations

import bisect
import json
from dataclasses import dataclass

from shared.cohort_index import CohortIndex

PAIRING_SPREAD = 256  # ~30 kB chunks (~120 bytes an entry): one status change rewrites one of them


@dataclass(frozen=True)
class PairingEntry:
    pairing_id: str
    mentor_id: str
    mentee_id: str
    status: str
    answer_by: str | None


def entry_of(doc: dict) -> tuple[str, str, str, str, str]:
    """A pairing document's entry in the index."""
    return doc["_id"], doc["mentor_id"], doc["mentee_id"], str(doc["status"]), doc.get("answer_by") or ""


class PairingIndex(CohortIndex):
    spread = PAIRING_SPREAD

    @staticmethod
    def count_key(values: tuple[str, ...]) -> str:
        return values[2]  # the status

    def pairings(self, cohort_id: str, *, statuses: tuple[str, ...] | None = None) -> list[PairingEntry]:
        """The cohort's pairings (with one of `statuses` when given) in pairing id order."""
        found = self.entries(cohort_id, counted=set(statuses) if statuses is not None else None)
        return [PairingEntry(pairing_id, mentor_id, mentee_id, status, answer_by or None)
                for pairing_id, (mentor_id, mentee_id, status, answer_by) in sorted(found.items())
                if statuses is None or status in statuses]

    def page(self, cohort_id: str, *, status: str | None, after: str | None,
             limit: int) -> tuple[list[str], str | None]:
        """Pairing ids in order after `after` (with that status); the cursor is the last one when more
        follow. One directory read, then the chunks from the cursor's on, skipping those without a match."""
        directory = self.directory(cohort_id)
        if directory is None:
            return [], None
        chunks = json.loads(directory["chunks"])  # [[boundary, counts by status], ...] in order
        first = max(bisect.bisect_right([boundary for boundary, _ in chunks], after or "") - 1, 0)
        found: list[str] = []
        for boundary, counts in chunks[first:]:
            if status is not None and not counts.get(status):
                continue
            entries = (self.chunk_entries(cohort_id, boundary) or ({}, 0))[0]
            found += [pairing_id for pairing_id in sorted(entries) if (after is None or pairing_id > after)
                      and (status is None or entries[pairing_id][2] == status)]
            if len(found) > limit:
                break
        more = len(found) > limit
        found = found[:limit]
        return found, (found[-1] if more and found else None)
