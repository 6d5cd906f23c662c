"""Retention of private text (README "Privacy"): meetings' agendas, notes and dispute reasons, the
text of goals' milestones and action items, and the agreement's expectations are forgotten
`retention_private_text_days` after the pairing ended, or completed without the pair staying in
touch (shared/retention.py says when the clock starts).

The text lives only in the private part of the meeting's commits (the meetings view never copies
it) and, for meetings of older versions, in `meeting_texts`; both are removed. Goals' item texts and
the agreement's expectations live only in the private part of the pairing's own stream. The events stay, so
the meeting, its status and every count built from it are unchanged, and a rebuild (which reads
the same commits) cannot bring the text back.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from shared.clock import parse_rfc3339
from shared.retention import already_done, mark_done

from services.sessions.domain import agreement as agreement_rules
from services.sessions.domain import availability as availability_rules
from services.sessions.domain import goals as goal_rules

# Every private field a meeting's commits may hold (application/commands.py).
MEETING_PRIVATE_FIELDS = ("agenda", "notes", "notes_by", "dispute_reason")
# Every private field a pairing's own stream may hold (goals and agreement commits).
PAIRING_PRIVATE_FIELDS = (*goal_rules.PRIVATE_FIELDS, *agreement_rules.PRIVATE_FIELDS)
# The private fields of a person's availability commits (domain/availability.py set_weekly).
AVAILABILITY_PRIVATE_FIELDS = ("weekly", "time_zone")
DONE = "retention_done"  # pairing id -> when its text was forgotten (`at`) and the clock it followed (`from`)


class _Store(Protocol):
    def forget_private(self, stream_id: str, fields) -> int: ...


class ForgetMeetingTexts:
    """The sessions worker's periodic retention job (shared/worker.py PeriodicJob)."""

    def __init__(self, pairings, meetings_view, store: _Store, database, clock, days: float):
        self.pairings = pairings
        self.meetings_view = meetings_view
        self.store = store
        self.legacy = database["meeting_texts"]
        self.done = database[DONE]
        self.clock = clock
        self.days = days

    def run(self) -> int:
        """Forget the text of every pairing whose retention clock (shared/retention.py: ended, or
        completed and not staying in touch) started more than `days` ago; returns how many pairings.

        Why a scan: listing ended and completed pairings reads the whole `pairings` view on FerretDB
        (only `_id` filters use an index there); once an hour that is cheap next to the requests it
        serves. Everything after it is keyed by `_id`: the pairing's marker, the meetings' stream
        pointers and commits. A pairing is marked only after all of its meetings are done, so an
        interrupted run finishes the pairing next time.
        """
        now = self.clock.now()
        cutoff = now - timedelta(days=self.days)
        forgotten = 0
        for pairing in self.pairings.finished():
            start = pairing.private_text_clock_start
            if start is None or start > cutoff:
                continue
            if already_done(self.done.find_one({"_id": pairing.pairing_id}), start):
                continue
            for meeting in self.meetings_view.for_pairing(pairing.pairing_id):
                self.store.forget_private(meeting["_id"], MEETING_PRIVATE_FIELDS)
                self.legacy.delete_one({"_id": meeting["_id"]})
            self.store.forget_private(pairing.pairing_id, PAIRING_PRIVATE_FIELDS)
            mark_done(self.done, pairing.pairing_id, start, now)
            forgotten += 1
        return forgotten



class ForgetAvailability:
    """A person's weekly availability is forgotten `days` after the later of its last change and
    the moment their last pairing stopped (its retention clock, shared/retention.py), while none of
    their pairings is going on (proposed, active, or completed and staying in touch).

    Why this rule: availability is only used to find meeting slots for a pairing; someone between
    pairings (or who set it and was never paired) does not need it kept for ever, and someone
    enrolled again simply sets it again (the form says what it holds). The events stay (counts and
    the stream's versions), only the intervals and the chosen zone go, from the commits themselves.

    Why two scans: the people who set an availability (`availability_index`) and the pairings view,
    once an hour, rather than a scan of pairings per person; the purge is by `_id` (the person's
    stream, the marker `availability|<id>` with the moment it followed, so an availability set
    again later ages again).
    """

    def __init__(self, pairings, index, store: _Store, database, clock, days: float):
        self.pairings = pairings  # PairingsRepository (live)
        self.index = index  # adapters.mongo.AvailabilityIndex (live)
        self.store = store
        self.done = database[DONE]
        self.clock = clock
        self.days = days

    def run(self) -> int:
        """Forget each aged availability; returns how many people's."""
        now = self.clock.now()
        cutoff = now - timedelta(days=self.days)
        in_use: set[str] = set()
        stopped: dict[str, datetime] = {}
        for pairing in self.pairings.all():
            start = pairing.private_text_clock_start
            going_on = pairing.status in ("proposed", "active") or (
                pairing.status == "completed" and start is None)
            for party in pairing.parties:
                if going_on:
                    in_use.add(party)
                elif start is not None and (party not in stopped or start > stopped[party]):
                    stopped[party] = start
        forgotten = 0
        for doc in self.index.all():
            person = doc["_id"]
            if person in in_use:
                continue
            anchor = parse_rfc3339(doc["set_at"])
            if person in stopped and stopped[person] > anchor:
                anchor = stopped[person]
            if anchor > cutoff:
                continue
            marker = f"availability|{person}"
            if already_done(self.done.find_one({"_id": marker}), anchor):
                continue
            self.store.forget_private(availability_rules.stream_id(person), AVAILABILITY_PRIVATE_FIELDS)
            mark_done(self.done, marker, anchor, now)
            forgotten += 1
        return forgotten
