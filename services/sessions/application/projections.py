"""The sessions service's read models of other services' events.

- Participants (hris.employees.v1): display name, e-mail and time zone, newest record wins.
- Pairings and cohorts (mentoring.matching.v1): status, parties, activation, cadence.

Idempotent under redelivery and replay: a pairing or cohort document remembers the
`aggregate_version` it last applied (matching's streams are gap-free and ordered per key), a
participant the (occurred_at, event_id) of its record; older or repeated events change nothing.
When a pairing ends, `on_pairing_ended` runs *before* the new status is saved, so a crash in
between replays it; it must itself be idempotent (cancelling a cancelled meeting is a no-op).
"""
from __future__ import annotations

from shared import topics
from shared.clock import parse_rfc3339
from shared.consumer import Projection
from shared.events.envelope import Envelope
from shared.metrics import PAIRINGS_ACTIVE
from services.sessions.adapters.repositories import PairingsRepository, ParticipantsRepository

PAIRING_STATUS = {
    "PairingProposed": "proposed",
    "PairingAccepted": None,  # still proposed until both accepted: activation says so
    "PairingDeclined": "declined",
    "PairingActivated": "active",
    "PairingExpired": "expired",
    "PairingEnded": "ended",
}


def _stamp(envelope: Envelope) -> list:
    return [parse_rfc3339(envelope.occurred_at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), envelope.event_id]


class ParticipantsProjection(Projection):
    name = "sessions-participants"
    topics = (topics.HRIS_EMPLOYEES,)

    def __init__(self, repository: ParticipantsRepository):
        self.repository = repository

    batchable = frozenset({"EmployeeUpserted"})

    def handlers(self):
        return {"EmployeeUpserted": self.upserted, "EmployeeTerminated": self.terminated}

    def reset(self) -> None:
        self.repository.drop()

    @staticmethod
    def _profile(doc: dict, envelope: Envelope, stamp: list) -> dict:
        data = envelope.data
        doc.update(display_name=data.get("display_name"), email=data.get("email"), timezone=data.get("timezone"),
                   status="active", stamp=stamp)
        return doc

    def apply_batch(self, envelopes: list[Envelope]) -> None:
        """A run of upserts (the org load): people seen for the first time are inserted in one round
        trip with their newest record; people already stored take the records one by one."""
        newest: dict[str, tuple[list, Envelope]] = {}
        for envelope in envelopes:
            employee_id, stamp = envelope.data["employee_id"], _stamp(envelope)
            if employee_id not in newest or stamp > newest[employee_id][0]:
                newest[employee_id] = (stamp, envelope)
        existing = self.repository.insert_new(
            [self._profile({"_id": employee_id}, envelope, stamp) for employee_id, (stamp, envelope) in newest.items()])
        for envelope in envelopes:
            if envelope.data["employee_id"] in existing:
                self.upserted(envelope)

    def upserted(self, envelope: Envelope) -> None:
        data = envelope.data
        stamp = _stamp(envelope)
        doc = self.repository.get(data["employee_id"]) or {"_id": data["employee_id"]}
        if doc.get("stamp") is not None and stamp <= doc["stamp"]:
            return
        self.repository.put(self._profile(doc, envelope, stamp))

    def terminated(self, envelope: Envelope) -> None:
        stamp = _stamp(envelope)
        doc = self.repository.get(envelope.data["employee_id"]) or {"_id": envelope.data["employee_id"]}
        if doc.get("stamp") is not None and stamp <= doc["stamp"]:
            return
        doc.update(status="terminated", stamp=stamp)
        self.repository.put(doc)


class PairingsProjection(Projection):
    name = "sessions-pairings"
    topics = (topics.MATCHING,)

    def __init__(self, repository: PairingsRepository, on_pairing_ended=None):
        self.repository = repository
        self.on_pairing_ended = on_pairing_ended

    def handlers(self):
        handlers = {event_type: self.pairing_event for event_type in PAIRING_STATUS}
        handlers["CohortCreated"] = self.cohort_created
        return handlers

    def reset(self) -> None:
        self.repository.drop()

    def cohort_created(self, envelope: Envelope) -> None:
        data = envelope.data
        doc = self.repository.get_cohort(data["cohort_id"])
        if doc is not None and doc.get("version", 0) >= envelope.aggregate_version:
            return
        self.repository.put_cohort({"_id": data["cohort_id"], "name": data["name"],
                                    "meeting_cadence_days": data["meeting_cadence_days"],
                                    "version": envelope.aggregate_version})

    def pairing_event(self, envelope: Envelope) -> None:
        data = envelope.data
        doc = self.repository.get_doc(data["pairing_id"])
        if doc is not None and doc.get("version", 0) >= envelope.aggregate_version:
            return  # already applied (redelivery or replay)
        doc = doc or {"_id": data["pairing_id"], "status": "proposed", "activated_at": None, "ended_at": None}
        was_active = doc["status"] == "active"
        doc.update(cohort_id=data["cohort_id"], mentor_id=data["mentor_id"], mentee_id=data["mentee_id"],
                   version=envelope.aggregate_version)
        status = PAIRING_STATUS[envelope.event_type]
        if status:
            doc["status"] = status
        if envelope.event_type == "PairingActivated":
            doc["activated_at"] = data["activated_at"]
        if envelope.event_type == "PairingEnded":
            doc["ended_at"] = envelope.occurred_at
            if self.on_pairing_ended is not None:
                self.on_pairing_ended(envelope)
        self.repository.put(doc)
        if was_active != (doc["status"] == "active"):  # the gauge moves now, not at the next risk check
            active = sum(1 for p in self.repository.of_cohort(data["cohort_id"]) if p.is_active)
            PAIRINGS_ACTIVE.labels(data["cohort_id"]).set(active)
