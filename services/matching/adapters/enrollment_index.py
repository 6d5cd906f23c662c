"""A cohort's enrolments in employee id order, stored so that a page is a few `_id` reads.

FerretDB v1 serves only an exact `{_id: <string>}` filter from an index: listing a cohort's
enrolments by `{cohort_id}|…` `_id` range scanned the whole enrolments collection (6–13 s per page
of 50 at 12,500 enrolled). This index keeps, per cohort:

- chunks (`_id` `"{cohort_id}|{first employee id}"`): consecutive entries in employee id order,
  each `[employee id, role, status]` (what the filters need), all in ONE JSON string field
  `entries`: FerretDB's cost follows the number of values in a document and its bytes (measured
  here: 200 rows as one JSON string read in ~15 ms, as 200 sub-documents 143 ms), and a bulk
  enrolment in file order touches most chunks in each run the projector applies, so entries stay
  slim (~30 bytes) and the rows themselves are read from the enrolment documents, by `_id`;
- a directory (`_id` = the cohort id): the chunks' first employee ids in order, with how many
  entries of each role and status each chunk holds, so a filtered page skips chunks without a match.

A page: the directory, the chunks holding its entries (usually one), then the page's enrolment
documents by `_id`, side by side (`Views.enrollments_page`).

Chunk boundaries depend only on the set of employee ids, never on arrival order: an employee id
starts a chunk when its hash is 0 modulo `SPREAD` (content-defined chunking; the first chunk,
`"{cohort_id}|"`, holds the ids before the first such id). So a rebuild, a bulk enrolment and one
enrolment at a time produce the same documents, and no chunk ever needs a split decision that could
differ after a crash. Chunks average `SPREAD` entries.

The layout and its writer are `shared.cohort_index` (also feedback's lists). Written only by the
views projection (`CohortIndexWrite`), before the enrolment document the entry comes from: see
`services/matching/application/projections.py`. Crash safety: chunks first (those
the directory does not list yet before the ones it does, so an entry moved into a new chunk is never
only in memory), the directory last. A chunk that exists but is not in the directory is what a crash
left: creating it again takes its stored entries (newer) over the ones still in the chunk they came
from. Every document's `version` is the store order (shared.projector.order_of) of the last event
that changed it, written with the views' version-guarded replace.
"""
from __future__ import annotations

import bisect
import json

from shared.cohort_index import CohortIndex

# ~25 chunks of ~16 kB for 12,500 enrolments. One enrolment rewrites its chunk: measured on FerretDB,
# a 64 kB chunk (2048) took ~50 ms to read and replace against ~11 ms at 16 kB, which made a single
# enrolment's p95 grow 2.2x by 12,500 enrolled; a bulk run rewrites about the same bytes either way.
SPREAD = 512
ROW_FIELDS = ("enrollment_id", "employee_id", "role", "capacity", "topics", "status", "paused", "enrolled_at",
              "withdrawal_reason")  # what the list shows of an enrolment document


def row_of(doc: dict) -> dict:
    """What the list shows of an enrolment document (fields it lacks stay absent, as before)."""
    return {name: doc[name] for name in ROW_FIELDS if name in doc}


def entry_of(doc: dict) -> tuple[str, str, str]:
    """An enrolment document's entry in the index: (employee id, role, status)."""
    return doc["employee_id"], str(doc.get("role")), str(doc.get("status"))


def _matches(counts: dict[str, int], role: str | None, status: str | None) -> int:
    return sum(n for key, n in counts.items()
               if (role is None or key.split("|")[0] == role) and (status is None or key.split("|")[1] == status))


class EnrollmentIndex(CohortIndex):
    """A cohort's enrolments: entries `[employee id, role, status]`, paged with filters."""

    spread = SPREAD

    # -- reading a page -------------------------------------------------------------------------
    def page(self, cohort_id: str, *, role: str | None, status: str | None, prefix: str | None,
             after: str | None, limit: int) -> tuple[list[str], str | None]:
        """Employee ids in order after `after`, matching the filters; the cursor is the last one when
        more follow. One directory read, then only the chunks holding a match."""
        directory = self.directory(cohort_id)
        if directory is None:
            return [], None
        chunks = json.loads(directory["chunks"])  # [[boundary, counts], ...] in order
        boundaries = [boundary for boundary, _ in chunks]
        low = prefix or ""
        high = low + "\uffff" if prefix else None
        start = max(after, low) if after is not None else low
        first = max(bisect.bisect_right(boundaries, start) - 1, 0)
        found: list[str] = []
        for boundary, counts in chunks[first:]:
            if high is not None and boundary >= high:
                break
            if not _matches(counts, role, status):
                continue
            entries = (self.chunk_entries(cohort_id, boundary) or ({}, 0))[0]
            for employee_id in sorted(entries):
                if employee_id < low or (after is not None and employee_id <= after):
                    continue
                if high is not None and employee_id >= high:
                    break
                if (role is None or entries[employee_id][0] == role) and (
                        status is None or entries[employee_id][1] == status):
                    found.append(employee_id)
            if len(found) > limit:
                break
        more = len(found) > limit
        found = found[:limit]
        return found, (found[-1] if more and found else None)
