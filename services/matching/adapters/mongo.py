"""MongoDB collections of the matching service: its views, the HRIS participants, run progress.

The views (programmes, cohorts, enrolments, pairings, matching runs and their result chunks) are
written only by `application.projections.MatchingViews`, fed from the service's own event store
with a checkpoint; request handlers read them and never write them. Every document is keyed by a
computable string `_id` (the only filter FerretDB v1 indexes) and remembers the aggregate `version`
it reflects, so applying an event twice changes nothing.

Everything takes a `database` handle (`handle[name]` -> collection), so a rebuild can hand the
projection a generation-bound handle and readers a live one (shared.projector).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pymongo import ASCENDING

from shared.mongo import insert_new, replace_if_newer

from services.matching.adapters.enrollment_index import EnrollmentIndex, row_of
from services.matching.adapters.pairing_index import PairingEntry, PairingIndex

PROGRAMS = "programs"
COHORTS = "cohorts"
ENROLLMENTS = "enrollments"
PAIRINGS = "pairings"
RUNS = "matching_runs"
RUN_CHUNKS = "matching_run_chunks"
COHORT_SUMMARIES = "cohort_summaries"
MENTEE_OPENINGS = "cohort_mentee_openings"
PARTY_PAIRINGS = "party_pairings"
ENROLLMENT_INDEX = "cohort_enrollment_index"
PAIRING_INDEX = "cohort_pairing_index"
NEVER_AGAIN = "never_again_pairs"
CIRCLES = "circles"
PAGE_READERS = 8  # a page's enrolment documents are read by `_id` on this many connections at once
VIEW_COLLECTIONS = (PROGRAMS, COHORTS, ENROLLMENTS, PAIRINGS, RUNS, RUN_CHUNKS, COHORT_SUMMARIES, MENTEE_OPENINGS,
                    PARTY_PAIRINGS, ENROLLMENT_INDEX, NEVER_AGAIN, CIRCLES, PAIRING_INDEX)
PARTICIPANTS = "participants"
RUN_PROGRESS = "matching_run_progress"


class Documents:
    """One collection of snapshots keyed by `_id`."""

    def __init__(self, collection):
        self.collection = collection

    def get(self, doc_id: str) -> dict | None:
        return self.collection.find_one({"_id": doc_id})

    def put(self, doc: dict) -> bool:
        """Store `doc` unless the stored copy reflects a later version (False then).

        `same_version`: a stream may update another stream's view at the same version (a cohort's
        list of runs). Documents without a version (run chunks) are written once.
        """
        if "version" not in doc:
            self.collection.replace_one({"_id": doc["_id"]}, doc, upsert=True)
            return True
        return replace_if_newer(self.collection, doc, same_version=True, likely_new=doc["version"] == 1)

    def insert_new(self, docs: list[dict]) -> set[str]:
        """First documents in one round trip; returns the `_id`s already stored (not written)."""
        return insert_new(self.collection, docs)

    def put_newer(self, doc: dict, *, likely_new: bool = False) -> bool:
        """Store `doc` only over a strictly older `version` (documents summing many streams' events).
        `likely_new`: the caller just found none stored (an insert first: a conditional replace that
        matches nothing scans the collection on FerretDB v1, shared.mongo.replace_if_newer)."""
        return replace_if_newer(self.collection, doc, likely_new=likely_new)

    def find(self, query: dict) -> list[dict]:
        return list(self.collection.find(query))

    def drop(self) -> None:
        self.collection.drop()


class Views:
    """The matching views on one database handle (readers: live; the projection: its generation)."""

    def __init__(self, database):
        self.programs = Documents(database[PROGRAMS])
        self.cohorts = Documents(database[COHORTS])
        self.enrollments = Documents(database[ENROLLMENTS])
        self.pairings = Documents(database[PAIRINGS])
        self.runs = Documents(database[RUNS])
        self.run_chunks = Documents(database[RUN_CHUNKS])
        # A cohort's counts (`GET /v1/cohorts/{id}/stats`) and, per enrolled mentee, the cohort's
        # open pairings naming them: both read by `_id`, so the stats never scan the cohort's
        # enrolments and pairings (FerretDB v1: a scan of every cohort's, 215 ms at org-20k).
        # `version` is the store order (shared.projector.order_of) of the last event applied.
        self.summaries = Documents(database[COHORT_SUMMARIES])
        self.mentee_openings = Documents(database[MENTEE_OPENINGS])
        # Per person, the pairings naming them as mentor or mentee (any cohort, any status, in `_id`
        # order): a participant's own pairings (the portal's home) are one `_id` read and one per
        # pairing, never a scan of every cohort's pairings (FerretDB v1: 200-600 ms for 134 at load).
        self.party_pairings = Documents(database[PARTY_PAIRINGS])
        # A cohort's enrolments in employee id order, a page being a few `_id` reads (enrollment_index.py)
        self.enrollment_index = EnrollmentIndex(database[ENROLLMENT_INDEX])
        # Per mentee, the mentors they must never be proposed to again, in any cohort: a proposal
        # either of them declined, or a pairing ended as not a fit. (Completed or otherwise ended
        # pairs may meet again in a later cohort.) Only people with such a history have a document,
        # so a run reads the whole (small) collection once.
        self.never_again = Documents(database[NEVER_AGAIN])
        # Mentoring circles (domain/circles.py), `_id` = the circle id: its cohort, mentor and every
        # pairing ever proposed into it with the pairing's status (members' statuses in one read).
        # Written by many pairing streams: `version` is the store order of the last event applied.
        self.circles = Documents(database[CIRCLES])
        # A cohort's pairings (parties, status, deadline) in pairing id order (pairing_index.py): the
        # cohort's pairings are a few `_id` reads, never a scan of every cohort's pairings.
        self.pairing_index = PairingIndex(database[PAIRING_INDEX])

    def all(self) -> tuple[Documents | EnrollmentIndex | PairingIndex, ...]:
        return (self.programs, self.cohorts, self.enrollments, self.pairings, self.runs, self.run_chunks,
                self.summaries, self.mentee_openings, self.party_pairings, self.enrollment_index, self.never_again,
                self.circles, self.pairing_index)

    def ensure_indexes(self) -> None:
        self.enrollments.collection.create_index([("cohort_id", ASCENDING)])
        self.enrollments.collection.create_index([("employee_id", ASCENDING)])
        self.pairings.collection.create_index([("cohort_id", ASCENDING), ("_id", ASCENDING)])
        self.pairings.collection.create_index([("mentor_id", ASCENDING)])
        self.pairings.collection.create_index([("mentee_id", ASCENDING)])
        self.pairings.collection.create_index([("status", ASCENDING)])
        self.circles.collection.create_index([("cohort_id", ASCENDING), ("_id", ASCENDING)])

    # -- queries ---------------------------------------------------------------------------------
    @staticmethod
    def enrollment_key(cohort_id: str, employee_id: str) -> str:
        return f"{cohort_id}|{employee_id}"

    @staticmethod
    def chunk_key(run_id: str, chunk: int) -> str:
        return f"{run_id}|{chunk:05d}"

    # A whole cohort's enrolments or pairings, and a person's pairings: ids from the keyed indexes
    # (a few `_id` reads), then the documents by `_id` side by side. Never a `{cohort_id}` or `{status}`
    # filter, which scans every cohort's documents on FerretDB v1 (11 s at 50,000 enrolments), nor
    # `_id: {$in: [...]}`, which FerretDB v1 also evaluates document by document (measured: 50 ids
    # from 20,000 documents took longer than the plain scan).
    def enrolled(self, cohort_id: str, *, role: str | None = None, status: str | None = None) -> list[str]:
        """The cohort's enrolled employee ids (with that role and status), from the index alone."""
        return sorted(employee_id for employee_id, (entry_role, entry_status)
                      in self.enrollment_index.entries(cohort_id).items()
                      if (role is None or entry_role == role) and (status is None or entry_status == status))

    def enrollments_of_cohort(self, cohort_id: str, *, role: str | None = None,
                              status: str | None = None) -> list[dict]:
        """The cohort's enrolment documents (with that role and status) in employee id order."""
        keys = [self.enrollment_key(cohort_id, employee_id)
                for employee_id in self.enrolled(cohort_id, role=role, status=status)]
        return self._read(self.enrollments, keys)

    def enrollments_of_employee(self, employee_id: str) -> list[dict]:
        """The person's enrolment in each cohort that has one, by `_id` (one look-up per cohort, side by
        side): a termination, an erasure or an export no longer scans every cohort's enrolments."""
        return self._read(self.enrollments, [self.enrollment_key(cohort_id, employee_id)
                                             for cohort_id in self.cohort_ids()])

    def pairing_entries(self, cohort_id: str, *, statuses: tuple[str, ...] | None = None) -> list[PairingEntry]:
        """The cohort's pairings' parties, status and deadline, from the index alone."""
        return self.pairing_index.pairings(cohort_id, statuses=statuses)

    def pairings_of_cohort(self, cohort_id: str) -> list[dict]:
        """The cohort's pairing documents in pairing id order."""
        return self._read(self.pairings, [entry.pairing_id for entry in self.pairing_entries(cohort_id)])

    def cohort_ids(self) -> list[str]:
        """Every cohort (a scan of the small cohorts collection: one document per cohort)."""
        return sorted(doc["_id"] for doc in self.cohorts.collection.find({}, {"_id": 1}))

    @staticmethod
    def _read(documents: Documents, keys: list[str]) -> list[dict]:
        """Documents by `_id` on PAGE_READERS connections at once, in the keys' order; one not written
        yet (an index is written just before its documents) is left out for a moment."""
        if not keys:
            return []
        with ThreadPoolExecutor(PAGE_READERS) as pool:
            return [doc for doc in pool.map(documents.get, keys) if doc is not None]

    def never_again_pairs(self, mentee_id: str | None = None) -> set[tuple[str, str]]:
        """(mentor, mentee) pairs never to be proposed again, whatever the cohort: every mentee's (a
        scan of the collection, once a run), or one mentee's (an `_id` read, on every suggestions call)."""
        docs = [self.never_again.get(mentee_id) or {"_id": mentee_id}] if mentee_id else self.never_again.find({})
        return {(mentor, doc["_id"]) for doc in docs for mentor in doc.get("mentors") or ()}

    def pairings_of_employee(self, employee_id: str) -> list[dict]:
        """Every pairing naming the person as mentor or mentee, in any cohort (their `party_pairings`)."""
        return self._read(self.pairings, list((self.party_pairings.get(employee_id) or {}).get("pairings") or []))

    def pairings_page(self, cohort_id: str, *, status: str | None, party: str | None, after: str | None,
                      limit: int) -> tuple[list[dict], str | None]:
        if party:
            return self._party_pairings_page(cohort_id, party, status=status, after=after, limit=limit)
        ids, cursor = self.pairing_index.page(cohort_id, status=status or None, after=after, limit=limit)
        return self._read(self.pairings, ids), cursor

    def _party_pairings_page(self, cohort_id: str | None, party: str, *, status: str | None, after: str | None,
                             limit: int) -> tuple[list[dict], str | None]:
        listed = (self.party_pairings.get(party) or {}).get("pairings") or []
        docs = []
        for pairing_id in listed:
            if after and pairing_id <= after:
                continue
            doc = self.pairings.get(pairing_id)
            if doc is None or (cohort_id and doc["cohort_id"] != cohort_id) or (status and doc["status"] != status):
                continue
            docs.append(doc)
            if len(docs) > limit:
                break
        more = len(docs) > limit
        docs = docs[:limit]
        return docs, (docs[-1]["_id"] if more and docs else None)

    def pairings_of_party_page(self, party: str, *, status: str | None, after: str | None,
                               limit: int) -> tuple[list[dict], str | None]:
        """Every pairing naming `party`, in any cohort."""
        return self._party_pairings_page(None, party, status=status, after=after, limit=limit)

    # Listings for the programme console. FerretDB v1 serves only an exact `{_id: <string>}` filter
    # from an index, so the listings are built to need as little else as possible:
    # - programmes: one small document each (tens per organisation), so listing them is a scan of a
    #   small collection in `_id` order, with the last `_id` as the cursor;
    # - a programme's cohorts: the programme's view document keeps its `cohort_ids` in creation order
    #   (the projector is its only writer), so the listing is one `_id` read for the programme and one
    #   per cohort on the page, never a query over all cohorts;
    # - a cohort's enrolments: `EnrollmentIndex` (enrollment_index.py), one directory read and the
    #   chunks holding the page's rows. An `_id` range over the enrolments (what this was) scanned
    #   the collection on FerretDB v1: 5.7-12.7 s for a page of 50 with 20,000 enrolments.
    def programs_page(self, *, after: str | None, limit: int) -> tuple[list[dict], str | None]:
        query = {"_id": {"$gt": after}} if after else {}
        docs = list(self.programs.collection.find(query).sort("_id", ASCENDING).limit(limit + 1))
        return self._page(docs, limit)

    def cohorts_of_program(self, program_id: str, *, after: str | None,
                           limit: int) -> tuple[list[dict], str | None] | None:
        """A page of the programme's cohorts in creation order; None if no such programme (in the views)."""
        program = self.programs.get(program_id)
        if program is None:
            return None
        ids = list(program.get("cohort_ids") or [])
        if after:
            ids = ids[ids.index(after) + 1:] if after in ids else []
        docs = [doc for doc in (self.cohorts.get(cohort_id) for cohort_id in ids[:limit]) if doc is not None]
        return docs, (ids[limit - 1] if len(ids) > limit else None)

    def enrollments_page(self, cohort_id: str, *, role: str | None, status: str | None, prefix: str | None,
                         after: str | None, limit: int) -> tuple[list[dict], str | None]:
        """The page's employee ids from the index, then their enrolment documents by `_id`, side by
        side (an `$in` would scan on FerretDB v1); each as the list shows it."""
        ids, cursor = self.enrollment_index.page(cohort_id, role=role, status=status, prefix=prefix, after=after,
                                                 limit=limit)
        docs = self._read(self.enrollments, [self.enrollment_key(cohort_id, employee_id) for employee_id in ids])
        return [{"cohort_id": cohort_id, **row_of(doc)} for doc in docs], cursor

    def circles_page(self, cohort_id: str, *, after: str | None, limit: int) -> tuple[list[dict], str | None]:
        """A cohort's circles in `_id` order (a scan of the small circles collection on FerretDB v1:
        one document per mentor of a circle cohort; an index on mongod)."""
        query: dict = {"cohort_id": cohort_id}
        if after:
            query["_id"] = {"$gt": after}
        return self._page(list(self.circles.collection.find(query).sort("_id", ASCENDING).limit(limit + 1)), limit)

    @staticmethod
    def _page(docs: list[dict], limit: int) -> tuple[list[dict], str | None]:
        more = len(docs) > limit
        docs = docs[:limit]
        return docs, (docs[-1]["_id"] if more and docs else None)

    def run_result(self, run: dict) -> tuple[list[dict], list[dict]]:
        """A run's proposals and unmatched mentees, from its chunks (read by `_id`)."""
        proposals: list[dict] = []
        unmatched: list[dict] = []
        for chunk in range(int(run.get("chunks") or 0)):
            doc = self.run_chunks.get(self.chunk_key(run["_id"], chunk)) or {}
            proposals.extend(doc.get("proposals") or [])
            unmatched.extend(doc.get("unmatched") or [])
        return proposals, unmatched


class ParticipantsRepository:
    """People as the HRIS last described them (fed from hris.employees.v1)."""

    def __init__(self, database):
        self.collection = database[PARTICIPANTS]

    def get(self, employee_id: str) -> dict | None:
        return self.collection.find_one({"_id": employee_id})

    def put(self, doc: dict) -> None:
        self.collection.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    def insert_new(self, docs: list[dict]) -> set[str]:
        from shared.mongo import insert_new

        return insert_new(self.collection, docs)

    def drop(self) -> None:
        self.collection.drop()


class RunProgress:
    """What the run processor is doing right now (phase, proposals created): shown while a run runs.

    Not a view that decides anything: the run's outcome is in its stream; this only says how far
    the worker got, for people watching the progress bar.
    """

    def __init__(self, database):
        self.collection = database[RUN_PROGRESS]

    def set(self, run_id: str, **fields) -> None:
        self.collection.replace_one({"_id": run_id}, {"_id": run_id, **fields}, upsert=True)

    def get(self, run_id: str) -> dict | None:
        return self.collection.find_one({"_id": run_id})
