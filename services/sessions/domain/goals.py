"""A pairing's goal list: replaced as a whole, guarded by a revision number.

The goals live in the pairing's stream in the sessions event store (aggregate id = pairing id,
aggregate type `pairing-goals`); `revision` counts `GoalsRevised` events only, so engagement
events sharing the stream never make a client's `expected_revision` stale.

Each goal may carry milestones and action items (text, an owner who is one of the pair, a due date,
done or not). Their text is free text, personal data: it goes into the commit's private part
(`item_texts`, item id -> text), the event carries only ids, owners, dates and done. A goal that
leaves out `milestones` or `action_items` keeps the ones it has (clients that predate them do not
wipe them); an empty list clears them. A revision that makes a goal `achieved` also appends
`GoalAchieved` for it, in the same commit.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from shared.aggregate import NewEvent
from shared.errors import Conflict, Invalid, NotFound
from shared.events.catalog.sessions import GOAL_ACHIEVED, GOAL_STATUSES, GOALS_REVISED
from services.sessions.domain.decision import Decision
from services.sessions.domain.pairing import PairingInfo

STATUSES = GOAL_STATUSES
MAX_GOALS = 20
MAX_TITLE = 200
ITEM_KINDS = ("milestones", "action_items")
MAX_ITEMS = 10  # of each kind per goal
MAX_ITEM_TEXT = 200
PRIVATE_FIELDS = ("item_texts",)  # what a GoalsRevised commit keeps privately (retention)


@dataclass
class Goals:
    revision: int = 0
    goals: list[dict] = field(default_factory=list)
    revised_by: str | None = None
    revised_at: str | None = None
    history: list[dict] = field(default_factory=list)
    revision_request: str | None = None  # the causation id of the request that stored the revision


def _with_texts(goal: dict, texts: dict) -> dict:
    goal = dict(goal)
    for kind in ITEM_KINDS:
        goal[kind] = [dict(item, text=texts.get(item["item_id"])) for item in goal.get(kind) or []]
    return goal


def fold(events, private: dict | None = None) -> Goals:
    """The goals from the pairing's stream; `private` (event id -> fields) gives the items' text
    (None once retention forgot it)."""
    state = Goals()
    private = private or {}
    for event in events:
        if event.event_type != GOALS_REVISED:
            continue
        texts = (private.get(event.event_id) or {}).get("item_texts") or {}
        state.revision = event.data["revision"]
        state.goals = [_with_texts(g, texts) for g in event.data["goals"]]
        state.revised_by = event.data["revised_by"]
        state.revised_at = event.occurred_at
        state.revision_request = event.causation_id
        state.history.append({"revision": state.revision, "revised_by": state.revised_by,
                              "revised_at": event.occurred_at, "goals": state.goals})
    return state


def _items(where: str, kind: str, items: list[dict] | None, current: list[dict], pairing: PairingInfo) -> list[dict]:
    if items is None:
        return [dict(item) for item in current]  # left out: kept as they are
    if len(items) > MAX_ITEMS:
        raise Invalid("too_many_items", f"at most {MAX_ITEMS} {kind.replace('_', ' ')} per goal", field=f"{where}.{kind}")
    known = {item["item_id"] for item in current}
    out = []
    for index, item in enumerate(items):
        at = f"{where}.{kind}.{index}"
        text = (item.get("text") or "").strip()
        if not text or len(text) > MAX_ITEM_TEXT:
            raise Invalid("item_text", f"1 to {MAX_ITEM_TEXT} characters", field=f"{at}.text")
        if item.get("owner_id") not in pairing.parties:
            raise Invalid("owner_not_a_party", "the owner is the mentor or the mentee", field=f"{at}.owner_id")
        item_id = item.get("item_id")
        if item_id is not None and item_id not in known:
            raise Invalid("unknown_item", "unknown item; leave item_id out to add a new one", field=f"{at}.item_id")
        due = item.get("due_on")
        if isinstance(due, date):
            due = due.isoformat()
        out.append({"item_id": item_id or str(uuid.uuid4()), "text": text, "owner_id": item["owner_id"],
                    "due_on": due, "done": bool(item.get("done"))})
    ids = [item["item_id"] for item in out]
    if len(set(ids)) != len(ids):
        raise Invalid("duplicate_item", "each item_id may appear once", field=f"{where}.{kind}")
    return out


def _normalise(index: int, goal: dict, current: dict[str, dict], pairing: PairingInfo) -> dict:
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
    if goal_id is not None and goal_id not in current:
        raise Invalid("unknown_goal", "unknown goal; leave goal_id out to add a new goal", field=f"{where}.goal_id")
    target = goal.get("target_date")
    if isinstance(target, date):
        target = target.isoformat()
    before = current.get(goal_id or "", {})
    items = {kind: _items(where, kind, goal.get(kind), before.get(kind) or [], pairing) for kind in ITEM_KINDS}
    return {"goal_id": goal_id or str(uuid.uuid4()), "title": title, "status": status, "target_date": target,
            "progress": progress, **items}


def revise(state: Goals, pairing: PairingInfo, *, expected_revision: int, goals: list[dict], by: str) -> Decision:
    """Replace the list. A stale `expected_revision` is a conflict carrying the current revision.

    Returns GoalsRevised (item texts in `Decision.private`) and a GoalAchieved for each goal that
    is achieved now and was not before (a goal added as achieved included)."""
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
    current = {g["goal_id"]: g for g in state.goals}
    new_goals = [_normalise(i, g, current, pairing) for i, g in enumerate(goals)]
    ids = [g["goal_id"] for g in new_goals]
    if len(set(ids)) != len(ids):
        raise Invalid("duplicate_goal", "each goal_id may appear once", field="goals")
    texts = {item["item_id"]: item["text"] for g in new_goals for kind in ITEM_KINDS for item in g[kind]
             if item["text"] is not None}
    public = [{**g, **{kind: [{k: v for k, v in item.items() if k != "text"} for item in g[kind]]
                       for kind in ITEM_KINDS}} for g in new_goals]
    revision = state.revision + 1
    events = [NewEvent(GOALS_REVISED, dict(pairing.fields(), revision=revision, revised_by=by, goals=public))]
    events += [NewEvent(GOAL_ACHIEVED, dict(pairing.fields(), goal_id=g["goal_id"], revision=revision, achieved_by=by))
               for g in new_goals if g["status"] == "achieved" and current.get(g["goal_id"], {}).get("status") != "achieved"]
    return Decision(events, {0: {"item_texts": texts}} if texts else None)


def achieve(state: Goals, pairing: PairingInfo, *, goal_id: str, by: str) -> Decision:
    """Mark one goal achieved (progress 100) in a new revision; an achieved goal appends nothing."""
    goal = next((g for g in state.goals if g["goal_id"] == goal_id), None)
    if goal is None:
        raise NotFound("goal_not_found", f"no goal {goal_id} in this pairing")
    if goal["status"] == "achieved":
        return Decision()
    goals = [dict(g, status="achieved", progress=100) if g["goal_id"] == goal_id else g for g in state.goals]
    return revise(state, pairing, expected_revision=state.revision, goals=goals, by=by)
