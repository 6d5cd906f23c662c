"""When the retention clock of a pairing's private text starts (README "Privacy"; issue 13).

Sessions (meeting notes, agendas, goals' texts, the agreement) and feedback (comments, kudos notes)
forget a pairing's private text `retention_private_text_days` after this moment. The rule is the
same for both, so it lives here, on the pairing fields both services' views keep:

- an **ended** pairing: when it ended;
- a **completed** pairing (its cohort closed, docs/api-pairings-completion.md): when it completed,
  unless the pair is **staying in touch** (both parties' latest answers are yes): then no clock
  runs, as for an active pairing, because they still meet and write; once either party says no, the
  clock runs from that answer (`parted_at`), never from before the completion;
- anything else (proposed, active): no clock.

Each job marks a pairing done in its `retention_done` collection (by `_id`), with the clock it
followed (`already_done`, `mark_done`).

Why from the "no" and not from the last meeting: the "no" is the moment the relationship stops in
the platform's records (its meetings still to come are cancelled then), and it is on every
service's pairing view already; a pair who stays in touch for years keeps their text as an active
pair does, and it goes a period after they part.
"""
from __future__ import annotations

from datetime import datetime

from pymongo.errors import DuplicateKeyError

from shared.clock import parse_rfc3339, rfc3339


def private_text_clock_start(*, status: str, ended_at: datetime | None, completed_at: datetime | None,
                             staying_in_touch: bool, parted_at: datetime | None) -> datetime | None:
    """The moment the pairing's private text starts ageing, or None while it is kept."""
    if status == "ended":
        return ended_at
    if status == "completed" and not staying_in_touch and completed_at is not None:
        return max(completed_at, parted_at) if parted_at is not None else completed_at
    return None


def already_done(marker: dict | None, start: datetime) -> bool:
    """The pairing's text was forgotten for a clock that started at `start` or later.

    Why the clock's start is on the marker: a completed pair may start staying in touch after
    their text was forgotten and write new notes; when they part, the clock starts again and those
    notes go a period later. Markers written before this had no `from` (ended pairings only,
    whose clock never moves): done."""
    if marker is None:
        return False
    return marker.get("from") is None or parse_rfc3339(marker["from"]) >= start


def mark_done(collection, pairing_id: str, start: datetime, now: datetime) -> None:
    """Replace by `_id`: every replica writes the same marker for the same clock, so a race is harmless."""
    marker = {"_id": pairing_id, "at": rfc3339(now), "from": rfc3339(start)}
    try:
        collection.replace_one({"_id": pairing_id}, marker, upsert=True)
    except DuplicateKeyError:
        pass  # another replica inserted it first (an upsert race): the same content
