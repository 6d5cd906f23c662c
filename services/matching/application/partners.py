"""Who may see whom: the partners view, and what each reader gets of a person's HRIS record.

`GET /v1/participants/{employee_id}` must answer "is the reader a current or proposed partner of
this person?" (or a completed one: `PARTNER_STATUSES`) in one `_id` look-up (FerretDB v1 indexes nothing else). The pairings view is keyed
by pairing id, so this projection keeps one document per *pair of people*, keyed
`partners|<lower id>|<higher id>`, listing the pairings between them with their status and the
version it reflects (the same two people may be paired in several cohorts; a replayed or
redelivered event at or below the stored version changes nothing).

`visible_profile` is the rule itself (pure): the person, platform admins and the managers of a
programme the person is enrolled in get the whole record; an open (proposed or active) partner
gets a card; anyone else — and everyone, for a terminated person — gets nothing, which the route
answers with 404 so nobody can probe who exists.

`managed_enrolment` answers "does the reader manage a programme this person is enrolled in?" with
`_id` reads only: the programmes naming the reader (shared.scopes, a handful of documents), each
programme's view document (its `cohort_ids`), and per cohort the enrolment keyed
`{cohort_id}|{employee_id}` — never a query over enrolments (a scan on FerretDB v1).
"""
from __future__ import annotations

from shared import directory
from shared.consumer import Projection
from shared.events.catalog import matching as ev
from shared.events.envelope import Envelope

PARTNERS = "partners"

# What a partner sees of the other: enough to recognise them and plan meetings; no email, level,
# manager or hire date (those stay with the person and admins).
CARD_FIELDS = ("employee_id", "display_name", "title", "department", "location", "timezone", "languages", "skills")


def card_of(doc: dict | None) -> dict | None:
    """A person's card (CARD_FIELDS) from their participants document; None for nobody or a
    terminated person (a mentee choosing a mentor sees the same card a proposal shows)."""
    record = directory.public(doc) if doc is not None else None
    if record is None or record.get("status") == "terminated":
        return None
    return {name: record.get(name) for name in CARD_FIELDS}


def partners_key(a: str, b: str) -> str:
    low, high = sorted((a, b))
    return f"{PARTNERS}|{low}|{high}"


# A completed pair (their cohort closed, issue 15) keep seeing each other's card: the pairing page
# where they thank each other and choose to stay in touch names the partner. Ended pairs do not.
PARTNER_STATUSES = (*ev.OPEN_PAIRING_STATUSES, "completed")


def are_open_partners(doc: dict | None) -> bool:
    return doc is not None and any(p["status"] in PARTNER_STATUSES for p in doc.get("pairings", ()))


def managed_enrolment(scopes, views, reader: str, employee_id: str) -> str | None:
    """The programme `reader` manages in which `employee_id` is enrolled now (an enrolment not
    withdrawn, in a cohort not closed), or None. `scopes`: shared.scopes.ProgrammeScopeReader;
    `views`: the matching views (adapters.mongo.Views), both on the live database."""
    for program_id in scopes.programs_managed_by(reader):
        program = views.programs.get(program_id) or {}
        for cohort_id in reversed(program.get("cohort_ids") or []):  # the newest cohorts first
            enrolment = views.enrollments.get(views.enrollment_key(cohort_id, employee_id))
            if enrolment is None or enrolment.get("status") == "withdrawn":
                continue
            if (views.cohorts.get(cohort_id) or {}).get("status") != "closed":
                return program_id
    return None


def visible_profile(record: dict | None, *, reader: str, reader_is_admin: bool, partners: bool,
                    manager: bool = False) -> dict | None:
    """The part of `record` (directory.public output) the reader may see, or None (answer 404).

    `reader_is_admin`: a platform admin; `manager`: the reader manages a programme the person is
    enrolled in (`managed_enrolment`); `partners`: an open pairing joins the two.
    """
    if record is None or record.get("status") == "terminated":
        return None
    if reader_is_admin or manager or reader == record["employee_id"]:
        return record
    if partners:
        return {name: record.get(name) for name in CARD_FIELDS}
    return None


class PartnersProjection(Projection):
    """Pairing events (own stream) -> `partners|a|b` documents: the pairings between two people."""

    name = "matching-partners"
    topics = ()  # fed from the service's own event store
    collections = (PARTNERS,)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.collection = database[PARTNERS]

    def reset(self) -> None:
        self.collection.drop()

    def handlers(self):
        return {event_type: self.pairing_event for event_type in ev.PAIRING_EVENTS}

    # Applied one by one (Projection.apply_batch), but listed so that the store projector can give a
    # run's proposals to MatchingViews.apply_batch: it batches only types every handler batches.
    batchable = frozenset(ev.PAIRING_EVENTS)

    def get(self, a: str, b: str) -> dict | None:
        return self.collection.find_one({"_id": partners_key(a, b)})

    def pairing_event(self, envelope: Envelope) -> None:
        data = envelope.data
        key = partners_key(data["mentor_id"], data["mentee_id"])
        doc = self.collection.find_one({"_id": key}) or {"_id": key, "pairings": []}
        entries = {p["pairing_id"]: p for p in doc["pairings"]}
        entry = entries.get(data["pairing_id"])
        if entry is not None and entry["version"] >= envelope.aggregate_version:
            return
        status = ev.PAIRING_STATUS_BY_EVENT[envelope.event_type] or (entry or {}).get("status", "proposed")
        entries[data["pairing_id"]] = {"pairing_id": data["pairing_id"], "status": status,
                                       "version": envelope.aggregate_version}
        doc["pairings"] = sorted(entries.values(), key=lambda p: p["pairing_id"])
        self.collection.replace_one({"_id": key}, doc, upsert=True)


class PartnersRepository:
    """Readers' handle on the partners view (live generation)."""

    def __init__(self, database):
        self.collection = database[PARTNERS]

    def open_partners(self, a: str, b: str) -> bool:
        return are_open_partners(self.collection.find_one({"_id": partners_key(a, b)}))
