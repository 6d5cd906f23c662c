"""What the sessions domain needs to know about a pairing (from matching's events).

A completed pairing (its cohort closed, issue 15; docs/api-pairings-completion.md) is no longer
active: the at-risk clock stops. Its meetings already scheduled are kept while the pair decide
whether to stay in touch; new meetings (and moves) need both to have said yes (`can_meet`); once
either says no (`parted_at`), its meetings still to come are cancelled as an ended pairing's are.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.retention import private_text_clock_start


@dataclass(frozen=True)
class PairingInfo:
    pairing_id: str
    cohort_id: str
    mentor_id: str
    mentee_id: str
    status: str  # proposed | active | declined | expired | ended | completed
    activated_at: datetime | None = None
    ended_at: datetime | None = None
    completed_at: datetime | None = None  # completed: when its cohort closed
    staying_in_touch: bool = False  # completed, and both parties said yes (their latest answers)
    parted_at: datetime | None = None  # completed: when a party last said no to staying in touch

    @property
    def parties(self) -> tuple[str, str]:
        return (self.mentor_id, self.mentee_id)

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def can_meet(self) -> bool:
        """Meetings may be scheduled or moved: an active pairing, or a completed one staying in touch."""
        return self.is_active or (self.status == "completed" and self.staying_in_touch)

    @property
    def meetings_end_at(self) -> datetime | None:
        """Meetings starting after this are cancelled: an ended pairing's end, or the moment a
        party of a completed pairing (not staying in touch) said no; None while meetings go on."""
        if self.status == "ended":
            return self.ended_at
        if self.status == "completed" and not self.staying_in_touch:
            return self.parted_at
        return None

    @property
    def private_text_clock_start(self) -> datetime | None:
        """When the retention clock of its private text starts (shared/retention.py); None: kept."""
        return private_text_clock_start(status=self.status, ended_at=self.ended_at, completed_at=self.completed_at,
                                        staying_in_touch=self.staying_in_touch, parted_at=self.parted_at)

    def fields(self) -> dict:
        return {"pairing_id": self.pairing_id, "cohort_id": self.cohort_id,
                "mentor_id": self.mentor_id, "mentee_id": self.mentee_id}
