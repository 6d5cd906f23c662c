"""The engagement roster: what a cohort's engagement report needs, folded from events (issue 14).

The report used to scan three views per request (the cohort's pairings, held meetings and
agreements). The roster keeps the same facts in a few documents per cohort, read by `_id`
(adapters/roster.py), in two parts because two writers feed it:

- pairs (matching's pairing events, one part per Kafka partition, written only by that partition's
  consumer): the cohort's active pairings with their parties and activation, and the version of
  every other pairing seen, so an older event arriving late (a redriven dead letter, a re-sent
  record) never brings back an ended pair: the same rule as the pairings view (newest version wins);
- meetings (this service's own store, written only by the store projector): per pairing, its held
  and undisputed meetings (count, minutes, the last one) and the cadence its parties confirmed.
  Each pairing's held meetings are kept as a list of their own (`HeldMeetings`), so a dispute of
  the last one finds the one before; the cohort's part holds only each pairing's summary.

Everything here is pure: the adapters load, call these, store.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.clock import parse_rfc3339, rfc3339

ACTIVE = "active"


@dataclass(frozen=True)
class ActivePair:
    mentor_id: str
    mentee_id: str
    activated_at: str | None  # as matching's PairingActivated said it (parsed when classified)


@dataclass
class PairsPart:
    """One partition's share of a cohort's pairings."""

    active: dict[str, list] = field(default_factory=dict)  # pairing id -> [version, mentor, mentee, activated_at]
    other: dict[str, int] = field(default_factory=dict)  # pairing id -> version, for pairings not active

    def version_of(self, pairing_id: str) -> int | None:
        if pairing_id in self.active:
            return int(self.active[pairing_id][0])
        return self.other.get(pairing_id)

    def apply(self, pairing_id: str, version: int, status: str | None, mentor_id: str, mentee_id: str,
              activated_at: str | None = None) -> bool:
        """A pairing event (its aggregate version, the status it sets or None, the parties, and the
        activation time when it is PairingActivated). False when it changes nothing (seen already)."""
        known = self.version_of(pairing_id)
        if known is not None and known >= version:
            return False
        was = self.active.get(pairing_id)
        active = status == ACTIVE if status is not None else was is not None
        if active:
            kept = activated_at if activated_at is not None else (was[3] if was else None)
            self.active[pairing_id] = [version, mentor_id, mentee_id, kept]
            self.other.pop(pairing_id, None)
        else:
            self.active.pop(pairing_id, None)
            self.other[pairing_id] = version
        return True

    def pairs(self) -> dict[str, ActivePair]:
        return {pid: ActivePair(entry[1], entry[2], entry[3]) for pid, entry in self.active.items()}


def held_at_key(held_at: str) -> str:
    """The form held times are kept and compared in (the meetings view's: RFC 3339, milliseconds)."""
    return rfc3339(parse_rfc3339(held_at))


@dataclass
class HeldMeetings:
    """One pairing's held, undisputed meetings: [meeting id, held at, minutes] each."""

    meetings: list[list] = field(default_factory=list)

    def held(self, meeting_id: str, held_at: str, minutes: int | None) -> bool:
        if any(m[0] == meeting_id for m in self.meetings):
            return False  # a meeting is held once (its stream refuses a second record)
        self.meetings.append([meeting_id, held_at_key(held_at), int(minutes or 0)])
        self.meetings.sort(key=lambda m: (m[1], m[0]))
        return True

    def disputed(self, meeting_id: str) -> bool:
        """A disputed record no longer counts as held (application/queries.py says why)."""
        kept = [m for m in self.meetings if m[0] != meeting_id]
        changed = len(kept) != len(self.meetings)
        self.meetings = kept
        return changed

    def summary(self) -> list:
        """[count, minutes, last held at or None]: what the cohort's part keeps for the pairing."""
        if not self.meetings:
            return [0, 0, None]
        last = max(self.meetings, key=lambda m: (m[1], m[0]))
        return [len(self.meetings), sum(int(m[2]) for m in self.meetings), last[1]]


@dataclass(frozen=True)
class PairStats:
    """What the report shows of a pairing's meetings and agreement."""

    meetings_held: int = 0
    minutes: int = 0
    last_held_at: str | None = None
    agreed_cadence: int | None = None


@dataclass
class MeetingsPart:
    """A cohort's meeting summaries and agreed cadences, per pairing: [count, minutes, last, cadence]."""

    pairs: dict[str, list] = field(default_factory=dict)

    def _entry(self, pairing_id: str) -> list:
        return self.pairs.setdefault(pairing_id, [0, 0, None, None])

    def summarise(self, pairing_id: str, held: HeldMeetings) -> bool:
        summary = held.summary()
        if self.pairs.get(pairing_id, [0, 0, None])[:3] == summary:
            return False
        entry = self._entry(pairing_id)
        entry[:3] = summary
        return True

    def agreed(self, pairing_id: str, cadence_days: int) -> bool:
        entry = self._entry(pairing_id)
        if entry[3] == int(cadence_days):
            return False
        entry[3] = int(cadence_days)
        return True

    def stats(self) -> dict[str, PairStats]:
        return {pid: PairStats(int(e[0]), int(e[1]), e[2], int(e[3]) if e[3] is not None else None)
                for pid, e in self.pairs.items()}
