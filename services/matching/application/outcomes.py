"""`GET /v1/programs/{program_id}/outcomes`: the programme's mentees against matched peers
(services/matching/domain/outcomes.py has the method).

Reads what matching already holds: the programme's closed cohorts and their pairings (views), and
every person's level history, department, hire and termination dates (the HRIS directory, which
keeps levels by day for this). The directory is read whole — outcomes are an analytics read, asked
for now and then, never on a participant's page — and each process keeps a programme's answer for
the day: the figures move once a day (`as_of`, UTC), so asking before and after one HRIS record
arrives cannot isolate it.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date

from shared.errors import NotFound

from services.matching.domain.outcomes import Person, outcomes

PARTICIPATED = ("active", "ended", "completed")  # the pairing became active: the mentee took part
_DIRECTORY_FIELDS = {"department": 1, "hire_date": 1, "terminated_on": 1, "level_history": 1, "erased": 1}
CACHED_ANSWERS = 64


def _day(value) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def person_of(doc: dict) -> Person:
    runs = (str(entry).partition(":") for entry in doc.get("level_history") or [])  # "YYYY-MM-DD:level"
    history = tuple((day, int(level)) for day, level in ((_day(on), level) for on, _, level in runs)
                    if day is not None and level.isdigit())
    return Person(doc["_id"], doc.get("department"), _day(doc.get("hire_date")), _day(doc.get("terminated_on")),
                  history)


class ProgramOutcomes:
    def __init__(self, views, directory_collection, clock):
        self.views = views
        self.directory = directory_collection
        self.clock = clock
        self._answers: OrderedDict[tuple[str, date], dict] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, program_id: str) -> dict:
        program = self.views.programs.get(program_id)
        if program is None:
            raise NotFound("program_unknown", f"no programme {program_id}")
        as_of = self.clock.now().date()
        with self._lock:
            if (program_id, as_of) in self._answers:
                return self._answers[(program_id, as_of)]
        answer = self._compute(program_id, program, as_of)
        with self._lock:
            self._answers[(program_id, as_of)] = answer
            while len(self._answers) > CACHED_ANSWERS:
                self._answers.popitem(last=False)
        return answer

    def _compute(self, program_id: str, program: dict, as_of: date) -> dict:
        cohorts = [c for c in (self.views.cohorts.get(cid) for cid in program.get("cohort_ids") or []) if c]
        closed = [c for c in cohorts if c.get("status") == "closed" and _day(c.get("starts_on"))]
        mentees: dict[str, date] = {}
        for cohort in closed:
            t0 = _day(cohort["starts_on"])
            for pairing in self.views.pairing_entries(cohort["cohort_id"], statuses=PARTICIPATED):
                if t0 is not None:
                    # In two closed cohorts: observed from the first.
                    mentees[pairing.mentee_id] = min(t0, mentees.get(pairing.mentee_id, t0))
        enrolled = {employee_id for c in cohorts for employee_id in self.views.enrolled(c["cohort_id"])}
        people = {doc["_id"]: person_of(doc) for doc in self.directory.find({}, _DIRECTORY_FIELDS)
                  if not doc.get("erased")}
        result = outcomes(sorted(mentees.items()), people, excluded=enrolled | set(mentees), as_of=as_of)
        return {"program_id": program_id, "closed_cohorts": [c["cohort_id"] for c in closed],
                "mentees": len(mentees), **result}
