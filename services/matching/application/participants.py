"""Participants: the matching service's projection of the HRIS (hris.employees.v1).

The newest record wins, whatever order records arrive in and however often: each profile
remembers the (occurred_at, event_id) of the upsert it came from, and the employment status
remembers the same of the event that set it. An older or repeated record changes nothing.
A later upsert after a termination (a rehire) makes the person active again.
"""
from __future__ import annotations


from shared import topics
from shared.clock import parse_rfc3339
from shared.consumer import Projection
from shared.events.envelope import Envelope
from shared.mongo import insert_new

PROFILE_FIELDS = (
    "email", "display_name", "title", "department", "level", "manager_id", "location", "timezone",
    "languages", "skills", "hire_date",
)


def _stamp(envelope: Envelope) -> list:
    """A sortable identity of a record's moment: time first, event id to break exact ties."""
    return [parse_rfc3339(envelope.occurred_at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), envelope.event_id]


class ParticipantsRepository:
    COLLECTION = "participants"

    def __init__(self, database):
        self.collection = database[self.COLLECTION]

    def get(self, employee_id: str) -> dict | None:
        return self.collection.find_one({"_id": employee_id})

    def put(self, doc: dict) -> None:
        self.collection.find_one_and_replace({"_id": doc["_id"]}, doc, upsert=True)

    def insert_new(self, docs: list[dict]) -> set[str]:
        """Insert documents in one round trip; returns the ids that already existed."""
        return insert_new(self.collection, docs)

    def drop(self) -> None:
        self.collection.drop()


class ParticipantsProjection(Projection):
    name = "participants"
    topics = (topics.HRIS_EMPLOYEES,)

    def __init__(self, repository: ParticipantsRepository, on_terminated=None):
        self.repository = repository
        # Called once per termination that changed the person's status (matching ends pairings).
        self.on_terminated = on_terminated

    batchable = frozenset({"EmployeeUpserted", "EmployeeTerminated"})

    def handlers(self):
        return {"EmployeeUpserted": self.upserted, "EmployeeTerminated": self.terminated}

    def apply_batch(self, envelopes: list[Envelope]) -> None:
        """A run of HRIS records: people seen for the first time are inserted in one round trip.

        The records of each person are folded in order onto an empty profile; if the person is
        new, that folded profile is inserted as it is. People who already exist get the same
        records through the one-by-one handlers, which compare against what is stored.
        """
        by_person: dict[str, list[Envelope]] = {}
        for envelope in envelopes:
            by_person.setdefault(envelope.data["employee_id"], []).append(envelope)
        folded = {person: self._fold_new(events) for person, events in by_person.items()}
        for person, (doc, terminations) in folded.items():
            for termination in terminations:
                if self.on_terminated is not None:
                    self.on_terminated(termination)
        existing = self.repository.insert_new([doc for doc, _ in folded.values()])
        for person in sorted(existing):
            for envelope in by_person[person]:
                self.handlers()[envelope.event_type](envelope)

    @staticmethod
    def _fold_new(events: list[Envelope]) -> tuple[dict, list[Envelope]]:
        doc = _empty(events[0].data["employee_id"])
        terminations = [envelope for envelope in events if apply_record(doc, envelope)[1]]
        return doc, terminations

    def reset(self) -> None:
        self.repository.drop()

    def upserted(self, envelope: Envelope) -> None:
        self._apply_one(envelope)

    def terminated(self, envelope: Envelope) -> None:
        self._apply_one(envelope)

    def _apply_one(self, envelope: Envelope) -> None:
        employee_id = envelope.data["employee_id"]
        doc = self.repository.get(employee_id) or _empty(employee_id)
        changed, newly_terminated = apply_record(doc, envelope)
        # The follow-up (ending pairings) runs before the status is saved: if we crash in
        # between, the redelivered record finds the status unchanged and runs it again.
        if newly_terminated and self.on_terminated is not None:
            self.on_terminated(envelope)
        if changed:
            self.repository.put(doc)


def _empty(employee_id: str) -> dict:
    return {"_id": employee_id, "employee_id": employee_id}


def apply_record(doc: dict, envelope: Envelope) -> tuple[bool, bool]:
    """Newest wins, separately for the profile and for the employment status.

    Mutates `doc`; returns (changed, newly_terminated).
    """
    stamp = _stamp(envelope)
    changed = newly_terminated = False
    newer_status = doc.get("status_stamp") is None or stamp > doc["status_stamp"]
    if envelope.event_type == "EmployeeUpserted":
        if doc.get("profile_stamp") is None or stamp > doc["profile_stamp"]:
            doc.update({name: envelope.data.get(name) for name in PROFILE_FIELDS})
            doc.update(profile_stamp=stamp, profile_occurred_at=envelope.occurred_at)
            changed = True
        if newer_status:
            doc.update(status="active", terminated_on=None, status_stamp=stamp)
            changed = True
    elif newer_status:
        newly_terminated = doc.get("status") != "terminated"
        doc.update(status="terminated", terminated_on=envelope.data["terminated_on"], status_stamp=stamp)
        changed = True
    return changed, newly_terminated


def public_profile(doc: dict) -> dict:
    """The participant as the API shows it (internal bookkeeping left out)."""
    profile = {"employee_id": doc["employee_id"], "status": doc.get("status", "active"),
               "terminated_on": doc.get("terminated_on")}
    for name in PROFILE_FIELDS:
        profile[name] = doc.get(name)
    profile["updated_at"] = doc.get("profile_occurred_at")
    return profile
