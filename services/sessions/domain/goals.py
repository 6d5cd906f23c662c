"""A pairing's goal list: replaced as a whole, guarded by a revision number.

The goals live in the pairing's stream in the sessions event store (aggregate id = pairing id,
aggregate type `pairing-goals`); `revision` counts `GoalsRevised` events only, so engagement
events sharing the stream never make a client's `expected_revision` stale.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from shared.aggregate import NewEvent
from shared.errors import Conflict, Invalid
from shared.events.catalog.sessions import GOAL_STATUSES, GOALS_REVISED
from services.sessions.domain.pairing import PairingInfo

STATUSES = GOAL_STATUSES
MAX_GOALS = 20
MAX_TITLE = 200


@dataclass
class Goals:
    revision: int = 0
    goals: list[dict] = field(default_factory=list)
    revised_by: str | None = None
    revised_at: str | None = None
    history: list[dict] = field(default_factory=list)


def fold(events) -> Goals:
    state = Goals()
    for event in events:
        if event.event_type != GOALS_REVISED:
            continue
        state.revision = event.data["revision"]
        state.goals = [dict(g) for g in event.data["goals"]]
        state.revised_by = event.data["revised_by"]
        state.revised_at = event.occurred_at
        state.history.append({"revision": state.revision, "revised_by": state.revised_by,
                              "revised_at": event.occurred_at, "goals": state.goals})
    return state


def _normalise(index: int, goal: dict, known_ids: set[str]) -> dict:
    where = f"goals.{index}"
    title = (goal.get("title") or "").strip()
    if not title or len(title) > MAX_TITLE:
        raise Invalid("goal_title", f"1 to {MAX_TITLE} characters", field=f"{where}.title")
    status = goal.get("status")
    if status not in STATUSES:
        raise Invalid("goal_status", f"one of {', '.join(STATUSES)}", field=f"{where}.status")
    progress = goal.get("progress")
    progress = 100 if progress is None and status == "achieved" else (progress or 0)
    if not isinstance(progress, int) or not 0 <= progress <= 100:
        raise Invalid("goal_progress", "an integer from 0 to 100", field=f"{where}.progress")
    goal_id = goal.get("goal_id")
    if goal_id is not None and goal_id not in known_ids:
        raise Invalid("unknown_goal", "unknown goal; leave goal_id out to add a new goal", field=f"{where}.goal_id")
    target = goal.get("target_date")
    if isinstance(target, date):
        target = target.isoformat()
    return {"goal_id": goal_id or str(uuid.uuid4()), "title": title, "status": status, "target_date": target,
            "progress": progress}


def revise(state: Goals, pairing: PairingInfo, *, expected_revision: int, goals: list[dict], by: str) -> list[NewEvent]:
    """Replace the list. A stale `expected_revision` is a conflict carrying the current revision."""
    if not pairing.is_active:
        raise Conflict("pairing_not_active",
                       f"pairing {pairing.pairing_id} is {pairing.status}; goals change only while it is active",
                       current_revision=state.revision)
    if expected_revision != state.revision:
        raise Conflict("stale_revision",
                       f"the goals are at revision {state.revision}, not {expected_revision}; reload and retry",
                       current_revision=state.revision)
    if len(goals) > MAX_GOALS:
        raise Invalid("too_many_goals", f"at most {MAX_GOALS} goals", field="goals")
    known = {g["goal_id"] for g in state.goals}
    new_goals = [_normalise(i, g, known) for i, g in enumerate(goals)]
    ids = [g["goal_id"] for g in new_goals]
    if len(set(ids)) != len(ids):
        raise Invalid("duplicate_goal", "each goal_id may appear once", field="goals")
    data = dict(pairing.fields(), revision=state.revision + 1, revised_by=by, goals=new_goals)
    return [NewEvent(GOALS_REVISED, data)]
