"""A whole cohort's enrolments and pairings, and the suggestions' people, read by `_id` (issue 16)
against the scans they replace, in the same run.

`python -m bench.bench_cohort_reads` (servers up, as `make up` starts them). Over a database of its
own: BENCH_ENROLMENTS enrolment documents (default 50,000 in 40 cohorts, BENCH_COHORT_ENROLMENTS =
10,000 of them, a quarter mentors, in the measured cohort), BENCH_PAIRINGS pairings (default 20,000,
BENCH_COHORT_PAIRINGS = 3,000 of them in the measured cohort, half proposed, half active), the
measured cohort's enrolments and pairings indexes built as the views projector builds them, and an
HRIS directory of BENCH_PEOPLE people (default 20,000) in a hierarchy of managers. Then, each a few
times, the read before (a filter: a scan on FerretDB v1) and after (the index, then `_id` reads):
- a suggestions call's and a run's seats taken (the cohort's pairings: parties and status);
- the cohort's active pairings (a closing cohort completes them), a page of 50 of its pairings;
- its active mentors' enrolment documents (suggestions), all its enrolment documents (a run);
- the mentors' profiles and management chains (the whole directory, vs `_id` reads level by level);
- `_id: {$in: [500 ids]}` against 500 `_id` look-ups side by side (why the reads are single ones);
- a warm suggestions call's reads and scoring (the mentors kept per process; without loading the
  cohort's and the mentee's streams), the seats from the pairings scan and the never-again scan (before)
  and from the pairing index and the mentee's never-again document (after);
- one pairing's status change written to the index (what each pairing event now also costs).
Each keyed read of a request's path runs 20 times (its p95), the rest BENCH_REPEAT times; each pair
of reads must return the same (else the bench stops). Prints p50/p95 in ms; no timed asserts.
Figures: docs/capacity.md.
"""
from __future__ import annotations

import os
import random
import time

from pymongo import ASCENDING

from bench.harness import isolated_settings, new_run, compare, percentiles, report
from shared.mongo import client_for, database_for
from services.matching.adapters import enrollment_index, pairing_index
from services.matching.adapters.mongo import PARTICIPANTS, Documents, Views
from services.matching.application.inputs import CohortMentors, MatchingInputs, Taken
from services.matching.domain import pairing as pairing_rules
from services.matching.domain.assignment import suggest_mentors
from services.matching.domain.rules import MatchingRules

ENROLMENTS = int(os.environ.get("BENCH_ENROLMENTS", "50000"))
COHORT_ENROLMENTS = int(os.environ.get("BENCH_COHORT_ENROLMENTS", "10000"))
PAIRINGS = int(os.environ.get("BENCH_PAIRINGS", "20000"))
COHORT_PAIRINGS = int(os.environ.get("BENCH_COHORT_PAIRINGS", "3000"))
PEOPLE = int(os.environ.get("BENCH_PEOPLE", "20000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
COHORTS = 40
COHORT = "coh-00"


class Directory:
    """What MatchingInputs reads of the HRIS participants: `get` by `_id` and the collection."""

    def __init__(self, collection):
        self.collection = collection

    def get(self, employee_id: str) -> dict | None:
        return self.collection.find_one({"_id": employee_id})


def _insert(collection, docs: list[dict]) -> None:
    for start in range(0, len(docs), 1000):
        collection.insert_many(docs[start:start + 1000], ordered=False)


def _people() -> list[dict]:
    """A hierarchy: 10 reports per manager, P000000 at the top."""
    return [{"_id": f"P{n:06d}", "employee_id": f"P{n:06d}", "level": 3 + (n % 6), "languages": ["en"],
             "timezone": "Europe/London", "department": f"D{n % 30}", "skills": ["python"], "status": "active",
             "manager_id": f"P{(n - 1) // 10:06d}" if n else None} for n in range(PEOPLE)]


def _enrolments() -> list[dict]:
    docs = []
    for n in range(ENROLMENTS):  # (n * 7919) % PEOPLE: no one twice in a cohort
        cohort = COHORT if n < COHORT_ENROLMENTS else f"coh-{1 + n % (COHORTS - 1):02d}"
        employee = f"P{(n * 7919) % PEOPLE:06d}"
        mentor = n % 4 == 0
        docs.append({"_id": f"{cohort}|{employee}", "cohort_id": cohort, "enrollment_id": f"enr-{n:08d}",
                     "employee_id": employee, "role": "mentor" if mentor else "mentee", "capacity": 3 if mentor else 1,
                     "topics": ["leadership", "python"], "status": "active", "paused": False,
                     "enrolled_at": "2026-11-27T09:58:41.123Z", "preferences": {"languages": ["en"]},
                     "goals_summary": "Grow into a staff engineer role", "withdrawal_reason": None, "version": 1})
    return docs


def _pairings() -> list[dict]:
    docs = []
    for n in range(PAIRINGS):
        cohort = COHORT if n < COHORT_PAIRINGS else f"coh-{1 + n % (COHORTS - 1):02d}"
        status = "proposed" if n % 2 else "active"
        docs.append({"_id": f"pair-{n:07d}-{n * 2654435761 % 10**9:09d}", "pairing_id": f"pair-{n}",
                     "cohort_id": cohort, "mentor_id": f"P{(n * 31) % PEOPLE:06d}",
                     "mentee_id": f"P{(n * 17 + 5) % PEOPLE:06d}", "status": status, "score": 0.71,
                     "answer_by": "2026-12-04T09:00:00.000Z", "mentor_accepted": status == "active",
                     "mentee_accepted": True, "reasons": ["shares 2 topics: python, leadership"],
                     "proposed_by": "algorithm", "matching_run_id": "run-1", "version": 1})
    return docs




def _compare(rows: list[dict], what: str, before, after, *, after_repeat: int = REPEAT) -> None:
    compare(rows, what, before, after, repeat=REPEAT, after_repeat=after_repeat)


def run() -> list[dict]:
    settings = isolated_settings("matching", new_run())
    rows: list[dict] = []
    print({"database": settings.database}, flush=True)  # dropped at the end; by hand after a killed run
    try:
        database = database_for(settings)
        views = Views(database)
        started = time.perf_counter()
        people, enrolments, pairings = _people(), _enrolments(), _pairings()
        _insert(database[PARTICIPANTS], people)
        _insert(views.enrollments.collection, enrolments)
        _insert(views.pairings.collection, pairings)
        keys = {d["employee_id"]: d for d in enrolments if d["cohort_id"] == COHORT}
        writing = views.enrollment_index.writing(COHORT)
        for order, doc in enumerate(keys.values(), start=1):
            writing.put(enrollment_index.entry_of(doc), order)
        writing.save()
        writing = views.pairing_index.writing(COHORT)
        for order, doc in enumerate((d for d in pairings if d["cohort_id"] == COHORT), start=1):
            writing.put(pairing_index.entry_of(doc), order)
        writing.save()
        report(rows, {"what": f"setup: {PEOPLE} people, {ENROLMENTS} enrolments, {PAIRINGS} pairings",
                       "seconds": time.perf_counter() - started, "load": os.getloadavg()[0]})
        tenth = sorted(d["_id"] for d in pairings if d["cohort_id"] == COHORT)[COHORT_PAIRINGS // 3]

        def taken(entries):
            return sorted((e[0], e[1], e[2], e[3]) for e in entries)

        _compare(rows, f"seats taken: the cohort's {COHORT_PAIRINGS} pairings' parties and status",
                 lambda: taken((d["_id"], d["mentor_id"], d["mentee_id"], d["status"])
                               for d in views.pairings.find({"cohort_id": COHORT})),
                 lambda: taken((e.pairing_id, e.mentor_id, e.mentee_id, e.status)
                               for e in views.pairing_entries(COHORT)), after_repeat=20)
        _compare(rows, "the cohort's active pairings (closing the cohort)",
                 lambda: sorted(d["_id"] for d in views.pairings.find({"cohort_id": COHORT, "status": "active"})),
                 lambda: [e.pairing_id for e in views.pairing_entries(COHORT, statuses=("active",))], after_repeat=20)
        _compare(rows, "a page of 50 of the cohort's pairings (the list), a third of the way in",
                 lambda: list(views.pairings.collection.find({"cohort_id": COHORT, "_id": {"$gt": tenth}})
                              .sort("_id", ASCENDING).limit(50)),
                 lambda: views.pairings_page(COHORT, status=None, party=None, after=tenth, limit=50)[0],
                 after_repeat=20)
        _compare(rows, "the cohort's active mentors' enrolment documents (suggestions)",
                 lambda: sorted(views.enrollments.find({"cohort_id": COHORT, "role": "mentor"}),
                                key=lambda d: d["_id"]),
                 lambda: views.enrollments_of_cohort(COHORT, role="mentor", status="active"))
        _compare(rows, f"all the cohort's enrolment documents (a run), {len(keys)}",
                 lambda: sorted(views.enrollments.find({"cohort_id": COHORT}), key=lambda d: d["_id"]),
                 lambda: views.enrollments_of_cohort(COHORT))
        mentors = [e for e, d in keys.items() if d["role"] == "mentor"]
        inputs = MatchingInputs(views, Directory(database[PARTICIPANTS]))

        def whole_directory():
            cache = {doc["_id"]: doc for doc in database[PARTICIPANTS].find({})}
            return sorted((m, tuple(inputs._management_chain(m, cache))) for m in mentors)

        def by_id():
            cache: dict = {}
            inputs._prefetch(mentors, cache)
            return sorted((m, tuple(inputs._management_chain(m, cache))) for m in mentors)

        _compare(rows, f"{len(mentors)} mentors' profiles and management chains (suggestions)", whole_directory, by_id)
        cohort_mentors = CohortMentors(inputs)
        cohort_mentors.get(COHORT, Taken())  # warm: built once per process
        mentee_id = next(e for e, d in keys.items() if d["role"] == "mentee" and int(e[1:]) % 6 == 0)  # level 3
        rules = MatchingRules.from_dict({})

        def scanned_taken() -> Taken:
            taken = Taken()
            for doc in views.pairings.find({"cohort_id": COHORT}):
                if doc["status"] in pairing_rules.OPEN:
                    taken.seats[doc["mentor_id"]] = taken.seats.get(doc["mentor_id"], 0) + 1
                if doc["status"] in ("declined", "ended"):
                    taken.forbidden.add((doc["mentor_id"], doc["mentee_id"]))
            taken.forbidden |= {(m, d["_id"]) for d in views.never_again.find({}) for m in d.get("mentors") or ()}
            return taken

        def suggestions(taken: Taken) -> list:
            mentors = cohort_mentors.get(COHORT, taken)
            mentee = inputs.mentee_of(views.enrollments.get(views.enrollment_key(COHORT, mentee_id)) or {}, mentors)
            found, _ = suggest_mentors(list(mentors.values()), mentee, rules, sorted(taken.forbidden), limit=10)
            cards = Views._read(Documents(database[PARTICIPANTS]), [s.mentor_id for s in found])
            return [(s.mentor_id, s.seats_left, card["_id"]) for s, card in zip(found, cards)]

        _compare(rows, f"a warm suggestions call ({len(mentors)} mentors, {COHORT_PAIRINGS} pairings)",
                 lambda: suggestions(scanned_taken()),
                 lambda: suggestions(inputs.pairings_of(COHORT, mentee_id=mentee_id)), after_repeat=20)
        sample = [views.enrollment_key(COHORT, e) for e in list(keys)[:500]]
        _compare(rows, "500 enrolment documents: `_id: {$in}` (before) vs single `_id` reads (after)",
                 lambda: sorted(views.enrollments.find({"_id": {"$in": sample}}), key=lambda d: d["_id"]),
                 lambda: sorted(Views._read(views.enrollments, sample), key=lambda d: d["_id"]))
        writes, writing = [], None
        cohort_pairings = [d for d in pairings if d["cohort_id"] == COHORT]
        for n, doc in enumerate(random.Random(5).sample(cohort_pairings, 30)):
            started = time.perf_counter()
            writing = views.pairing_index.writing(COHORT, after=writing)
            writing.put(pairing_index.entry_of({**doc, "status": "ended"}), 10_000_000 + n)
            writing.save()
            writes.append((time.perf_counter() - started) * 1000)
        report(rows, {"what": f"one pairing's index write ({COHORT_PAIRINGS} in the cohort)", **percentiles(writes)})
        report(rows, {"what": "load average at the end", "load": os.getloadavg()[0]})
        return rows
    finally:
        client_for(settings.mongo_url).drop_database(settings.database)  # its only trace (no topics)


if __name__ == "__main__":
    run()
