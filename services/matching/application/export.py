"""Subject access export of the matching service (GDPR Art. 15, issue 13; docs/api-privacy.md).

What matching holds about a person: their HRIS record as this service keeps it (`participants`),
their enrolments with the private preferences and goals summary, the pairings they are a party
of (scores and reasons included: they were computed about them), and their own lines of the
matching runs of their cohorts (proposals naming them, their "unmatched" reason); a request's
message only in its author's (the mentee's) export. The events:
every event of their enrolment streams (with the private part: it is their own enrolment,
whoever typed it) and of their pairings' streams.

Left out: the matching runs' streams themselves (each names every person of the cohort; the
person's lines are above, and their proposals are the PairingProposed events), the partner's
enrolment and record (the partner's data, not theirs), and `partners` (an index of the pairings).
"""
from __future__ import annotations

from shared import export
from services.matching.adapters.mongo import Views
from services.matching.domain import enrollment as enrollments

SERVICE = "matching"
WITHHELD = [
    "the matching runs' own streams: each names everyone in the cohort; the person's lines of each run "
    "are under data.matching_runs and their proposals are the PairingProposed events",
    "partners' enrolments, preferences and HRIS records: another person's data",
    "the message of a mentee's request to the person as a mentor: the mentee's words (in the mentee's export)",
    "the circles view (a circle's members and their pairings): the other members' data; the person's own "
    "membership is their pairing's circle_id",
]


def _own_enrolment_private(_event, private: dict) -> dict:
    return private  # preferences and goals summary of the person's own enrolment


def _run_lines(views: Views, run_id: str, employee_id: str) -> dict | None:
    """The person's proposals and unmatched reason in one run (read from its chunks by `_id`)."""
    run = views.runs.get(run_id)
    if run is None:
        return None
    proposals, unmatched = views.run_result(run)
    mine = [p for p in proposals if employee_id in (p.get("mentor_id"), p.get("mentee_id"))]
    left = [u for u in unmatched if u.get("mentee_id") == employee_id]
    if not mine and not left:
        return None
    return {"run_id": run_id, "cohort_id": run.get("cohort_id"), "status": run.get("status"),
            "dry_run": run.get("dry_run"), "proposals": mine, "unmatched": left}


def _without_others_words(pairing: dict, employee_id: str) -> dict:
    """A request's message goes to its author, the mentee, only (WITHHELD)."""
    if pairing.get("mentee_id") == employee_id or "message" not in pairing:
        return pairing
    return {name: value for name, value in pairing.items() if name != "message"}


def person_export(context, employee_id: str) -> dict:
    views: Views = context.views
    enrolled = views.enrollments_of_employee(employee_id)
    pairings = views.pairings_of_employee(employee_id)
    runs = []
    for cohort_id in sorted({doc["cohort_id"] for doc in enrolled}):
        cohort = views.cohorts.get(cohort_id) or {}
        runs += [lines for run_id in cohort.get("runs", []) if (lines := _run_lines(views, run_id, employee_id))]
    data = {
        "participant": export.plain(context.participants.get(employee_id)),
        "enrollments": export.documents(enrolled),
        "pairings": export.documents([_without_others_words(doc, employee_id) for doc in pairings]),
        "matching_runs": export.plain(runs),
    }
    events = (export.events_of(context.store, [enrollments.stream_id(d["cohort_id"], employee_id) for d in enrolled],
                               _own_enrolment_private)
              + export.events_of(context.store, [d["_id"] for d in pairings]))
    return export.envelope(SERVICE, employee_id, context.clock.now(), data, events, WITHHELD)
