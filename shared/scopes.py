"""Programme scopes (issue 12): who manages which programme, and which programme a cohort is in.

Every service decides "may this caller administer this?" from its own copy of matching's events,
never from the token: a manager is an employee whose id is in a programme's
`ProgramManagersSet.managers`, whatever roles their token carries. One projection, one reader,
in all four services: sessions, feedback and notifications feed `ProgrammeScopes` from
`mentoring.matching.v1`; matching feeds it from its own event store (`topics=()`), so a
`PUT /v1/programs/{id}/managers` answers once its own view includes the change.

Documents are keyed by `_id` (the only filter FerretDB v1 indexes): `programme_managers`
`{_id: program_id, managers, version}` (the programme stream's version: a replay never regresses
it) and `cohort_programmes` `{_id: cohort_id, program_id}` (a cohort never changes programme).
The route helpers are in shared.http.scopes.
"""
from __future__ import annotations

from pymongo import ASCENDING

from shared import topics
from shared.consumer import Projection
from shared.events.catalog import matching as ev
from shared.events.envelope import Envelope
from shared.mongo import replace_if_newer

PROGRAMME_MANAGERS = "programme_managers"
COHORT_PROGRAMMES = "cohort_programmes"


class ProgrammeScopes(Projection):
    name = "programme-scopes"
    collections = (PROGRAMME_MANAGERS, COHORT_PROGRAMMES)

    def __init__(self, database, *, topics: tuple[str, ...] = (topics.MATCHING,)):
        self.topics = topics  # () in matching: fed from its own store
        self.bind(database)

    def bind(self, database) -> None:
        self.database = database
        self.managers = database[PROGRAMME_MANAGERS]
        self.cohorts = database[COHORT_PROGRAMMES]

    def reset(self) -> None:
        self.managers.drop()
        self.cohorts.drop()

    def handlers(self):
        return {ev.PROGRAM_CREATED: self.program_event, ev.PROGRAM_MANAGERS_SET: self.program_event,
                ev.COHORT_CREATED: self.cohort_created}

    def program_event(self, envelope: Envelope) -> None:
        data = envelope.data
        replace_if_newer(self.managers, {"_id": data["program_id"], "managers": list(data.get("managers") or []),
                                         "version": envelope.aggregate_version})

    def cohort_created(self, envelope: Envelope) -> None:
        data = envelope.data
        replace_if_newer(self.cohorts, {"_id": data["cohort_id"], "program_id": data["program_id"],
                                        "version": envelope.aggregate_version})


class ProgrammeScopeReader:
    """Readers' side (on a live database handle, so it follows rebuilds)."""

    def __init__(self, database):
        self.database = database

    def managers_of(self, program_id: str | None) -> frozenset[str]:
        doc = self.database[PROGRAMME_MANAGERS].find_one({"_id": program_id}) if program_id else None
        return frozenset(doc.get("managers") or ()) if doc else frozenset()

    def program_of(self, cohort_id: str | None) -> str | None:
        doc = self.database[COHORT_PROGRAMMES].find_one({"_id": cohort_id}) if cohort_id else None
        return doc["program_id"] if doc else None

    def programs_managed_by(self, employee_id: str) -> list[str]:
        """The programmes naming `employee_id` (a scan on FerretDB: programmes are few)."""
        return sorted(doc["_id"] for doc in self.database[PROGRAMME_MANAGERS].find({"managers": employee_id}))

    def ensure_indexes(self) -> None:
        self.database[PROGRAMME_MANAGERS].create_index([("managers", ASCENDING)])
