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

    def drop(self) -> None:
        self.collection.drop()


class ParticipantsProjection(Projection):
    name = "participants"
    topics = (topics.HRIS_EMPLOYEES,)

    def __init__(self, repository: ParticipantsRepository, on_terminated=None):
        self.repository = repository
        # Called once per termination that changed the person's status (matching ends pairings).
        self.on_terminated = on_terminated

    def handlers(self):
        return {"EmployeeUpserted": self.upserted, "EmployeeTerminated": self.terminated}

    def reset(self) -> None:
        self.repository.drop()

    def upserted(self, envelope: Envelope) -> None:
        data = envelope.data
        employee_id = data["employee_id"]
        stamp = _stamp(envelope)
        doc = self.repository.get(employee_id) or {"_id": employee_id, "employee_id": employee_id}
        changed = False
        if doc.get("profile_stamp") is None or stamp > doc["profile_stamp"]:
            for name in PROFILE_FIELDS:
                doc[name] = data.get(name)
            doc["profile_stamp"] = stamp
            doc["profile_occurred_at"] = envelope.occurred_at
            changed = True
        if doc.get("status_stamp") is None or stamp > doc["status_stamp"]:
            doc["status"] = "active"
            doc["terminated_on"] = None
            doc["status_stamp"] = stamp
            changed = True
        if changed:
            self.repository.put(doc)

    def terminated(self, envelope: Envelope) -> None:
        data = envelope.data
        employee_id = data["employee_id"]
        stamp = _stamp(envelope)
        doc = self.repository.get(employee_id) or {"_id": employee_id, "employee_id": employee_id}
        if doc.get("status_stamp") is not None and stamp <= doc["status_stamp"]:
            return
        # The follow-up (ending pairings) runs before the status is saved: if we crash in
        # between, the redelivered record finds the status unchanged and runs it again.
        if doc.get("status") != "terminated" and self.on_terminated is not None:
            self.on_terminated(envelope)
        doc["status"] = "terminated"
        doc["terminated_on"] = data["terminated_on"]
        doc["status_stamp"] = stamp
        self.repository.put(doc)


def public_profile(doc: dict) -> dict:
    """The participant as the API shows it (internal bookkeeping left out)."""
    profile = {"employee_id": doc["employee_id"], "status": doc.get("status", "active"),
               "terminated_on": doc.get("terminated_on")}
    for name in PROFILE_FIELDS:
        profile[name] = doc.get(name)
    profile["updated_at"] = doc.get("profile_occurred_at")
    return profile
