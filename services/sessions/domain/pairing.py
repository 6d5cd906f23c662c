"""What the sessions domain needs to know about a pairing (from matching's events)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PairingInfo:
    pairing_id: str
    cohort_id: str
    mentor_id: str
    mentee_id: str
    status: str  # proposed | active | declined | expired | ended
    activated_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def parties(self) -> tuple[str, str]:
        return (self.mentor_id, self.mentee_id)

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    def fields(self) -> dict:
        return {"pairing_id": self.pairing_id, "cohort_id": self.cohort_id,
                "mentor_id": self.mentor_id, "mentee_id": self.mentee_id}
