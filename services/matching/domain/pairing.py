"""The pairing aggregate: proposed -> accepted by both -> active -> ended; or declined / expired;
or, when its cohort closes while it is active, completed (then each party may choose to stay in touch).

Pure: state + command -> events, or a DomainError. Every event carries the pairing fields.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from shared.aggregate import NewEvent
from shared.clock import parse_rfc3339, rfc3339
from shared.events.envelope import Envelope
from shared.errors import Conflict, Forbidden, Invalid
from shared.events.catalog import matching as ev

OPEN = ev.OPEN_PAIRING_STATUSES
END_REASONS = ev.END_REASONS
DECLINE_REASONS = ev.DECLINE_REASONS


@dataclass
class PairingState:
    pairing_id: str | None = None
    cohort_id: str | None = None
    mentor_id: str | None = None
    mentee_id: str | None = None
    status: str | None = None
    score: float = 0.0
    answer_by: str | None = None
    mentor_accepted: bool = False
    mentee_accepted: bool = False
    reasons: tuple = ()
    proposed_by: str | None = None
    matching_run_id: str | None = None
    end_reason: str | None = None
    decline_reason: str | None = None
    proposed_at: str | None = None  # the proposal's occurred_at
    completed_at: str | None = None
    # each party's latest answer to "stay in touch?" after completion (None: not answered yet)
    mentor_stays_in_touch: bool | None = None
    mentee_stays_in_touch: bool | None = None
    circle_id: str | None = None  # the mentoring circle this pairing is a member of (domain/circles.py)

    @property
    def staying_in_touch(self) -> bool:
        return bool(self.mentor_stays_in_touch and self.mentee_stays_in_touch)

    @property
    def exists(self) -> bool:
        return self.pairing_id is not None

    @classmethod
    def from_events(cls, events: list[Envelope]) -> "PairingState":
        state = cls()
        for event in events:
            state.apply(event.event_type, event.data)
            if event.event_type == ev.PAIRING_PROPOSED:
                state.proposed_at = event.occurred_at
        return state

    def apply(self, event_type: str, data: dict) -> None:
        if event_type == ev.PAIRING_PROPOSED:
            self.pairing_id, self.cohort_id = data["pairing_id"], data["cohort_id"]
            self.mentor_id, self.mentee_id = data["mentor_id"], data["mentee_id"]
            self.status, self.score, self.answer_by = "proposed", data["score"], data["answer_by"]
            self.reasons = tuple(data["reasons"])
            self.proposed_by, self.matching_run_id = data["proposed_by"], data["matching_run_id"]
            self.circle_id = data.get("circle_id")
        elif event_type == ev.PAIRING_ACCEPTED:
            if data["role"] == "mentor":
                self.mentor_accepted = True
            else:
                self.mentee_accepted = True
        elif event_type == ev.PAIRING_ACTIVATED:
            self.status = "active"
        elif event_type == ev.PAIRING_DECLINED:
            self.status = "declined"
            self.decline_reason = data.get("reason")
        elif event_type == ev.PAIRING_EXPIRED:
            self.status = "expired"
        elif event_type == ev.PAIRING_ENDED:
            self.status = "ended"
            self.end_reason = data["reason"]
        elif event_type == ev.PAIRING_COMPLETED:
            self.status = "completed"
            self.completed_at = data["completed_at"]
        elif event_type == ev.STAY_IN_TOUCH_CHOSEN:
            if data["role"] == "mentor":
                self.mentor_stays_in_touch = data["stay_in_touch"]
            else:
                self.mentee_stays_in_touch = data["stay_in_touch"]

    def fields(self) -> dict:
        return {"pairing_id": self.pairing_id, "cohort_id": self.cohort_id, "mentor_id": self.mentor_id,
                "mentee_id": self.mentee_id}

    def role_of(self, employee_id: str) -> str | None:
        if employee_id == self.mentor_id:
            return "mentor"
        if employee_id == self.mentee_id:
            return "mentee"
        return None


def propose(*, pairing_id: str, cohort_id: str, mentor_id: str, mentee_id: str, score: float, reasons: list,
            proposed_by: str, matching_run_id: str | None, answer_by: datetime,
            circle_id: str | None = None) -> list[NewEvent]:
    """`circle_id`: the circle the mentee joins (a circle cohort); a pair's event has no such field."""
    data = {"pairing_id": pairing_id, "cohort_id": cohort_id, "mentor_id": mentor_id, "mentee_id": mentee_id,
            "score": score, "reasons": list(reasons), "proposed_by": proposed_by, "matching_run_id": matching_run_id,
            "answer_by": rfc3339(answer_by)}
    if circle_id is not None:
        data["circle_id"] = circle_id
    return [NewEvent(ev.PAIRING_PROPOSED, data)]


def _require(state: PairingState) -> None:
    if not state.exists:
        raise Conflict("pairing_unknown", "no such pairing")


def _party_role(state: PairingState, actor: str, is_admin: bool, role: str | None) -> str:
    """The role answered for: the actor's own, or (admins only, `is_admin`: of the pairing's
    programme) the one they name."""
    own = state.role_of(actor)
    if own is not None and (role is None or role == own):
        return own
    if not is_admin:
        raise Forbidden("not_a_party", "only the mentor, the mentee or an admin can answer this proposal")
    if role not in ("mentor", "mentee"):
        raise Invalid("role", "an admin answering for a party names the party's role (mentor or mentee)",
                      field="role")
    return role


def _on_behalf_of(state: PairingState, actor: str, role: str) -> dict:
    """`on_behalf_of` the party whose answer an admin or manager gives: the event never says the
    mentee answered when someone else clicked."""
    party = state.mentor_id if role == "mentor" else state.mentee_id
    return {} if party == actor else {"on_behalf_of": party}


def _require_proposed(state: PairingState, action: str) -> None:
    _require(state)
    if state.status != "proposed":
        raise Conflict("not_proposed", f"the pairing is {state.status}; only a proposal can be {action}")


def accept(state: PairingState, *, actor: str, is_admin: bool, role: str | None, now: datetime) -> list[NewEvent]:
    _require_proposed(state, "accepted")
    role = _party_role(state, actor, is_admin, role)
    already = state.mentor_accepted if role == "mentor" else state.mentee_accepted
    if already:
        return []
    events = [NewEvent(ev.PAIRING_ACCEPTED, {**state.fields(), "accepted_by": actor, "role": role,
                                             **_on_behalf_of(state, actor, role)})]
    other_accepted = state.mentee_accepted if role == "mentor" else state.mentor_accepted
    if other_accepted:
        events.append(NewEvent(ev.PAIRING_ACTIVATED, {**state.fields(), "activated_at": rfc3339(now)}))
    return events


def decline(state: PairingState, *, actor: str, is_admin: bool, role: str | None,
            reason: str | None) -> list[NewEvent]:
    _require_proposed(state, "declined")
    role = _party_role(state, actor, is_admin, role)
    if reason is not None and reason not in DECLINE_REASONS:
        raise Invalid("reason", f"reason must be one of {', '.join(DECLINE_REASONS)}", field="reason")
    return [NewEvent(ev.PAIRING_DECLINED, {**state.fields(), "declined_by": actor, "reason": reason,
                                           **_on_behalf_of(state, actor, role)})]


def expire(state: PairingState, now: datetime) -> list[NewEvent]:
    """Expire an unanswered proposal past its deadline; anything else changes nothing."""
    if not state.exists or state.status != "proposed" or parse_rfc3339(state.answer_by) > now:
        return []
    return [NewEvent(ev.PAIRING_EXPIRED, {**state.fields(), "answer_by": state.answer_by})]


def end(state: PairingState, *, reason: str, ended_by: str, actor_is_admin: bool = False,
        actor_is_party: bool = True) -> list[NewEvent]:
    """End a proposed or active pairing; ending an already closed one changes nothing."""
    _require(state)
    if reason not in END_REASONS:
        raise Invalid("reason", f"reason must be one of {', '.join(END_REASONS)}", field="reason")
    if not (actor_is_admin or actor_is_party):
        raise Forbidden("not_a_party", "only the mentor, the mentee or an admin can end this pairing")
    if reason == "by_admin" and not actor_is_admin:
        raise Forbidden("admin_only", "only an admin ends a pairing with reason by_admin")
    if state.status not in OPEN:
        return []
    return [NewEvent(ev.PAIRING_ENDED, {**state.fields(), "reason": reason, "ended_by": ended_by})]


def end_on_termination(state: PairingState, *, employee_id: str, terminated_at: str) -> list[NewEvent]:
    """A termination ends only a pairing proposed before it: a rehired person's new pairing stays."""
    if state.role_of(employee_id) is None or state.proposed_at is None:
        return []
    if parse_rfc3339(state.proposed_at) >= parse_rfc3339(terminated_at):
        return []
    return end(state, reason="participant_left", ended_by="system", actor_is_admin=True)


def complete(state: PairingState, *, completed_at: str, closed_cohort_event_id: str | None) -> list[NewEvent]:
    """The cohort closed: an active pairing is completed; any other (a proposal still unanswered,
    a pairing already ended or completed) changes nothing, so a second closing completes nothing."""
    if not state.exists or state.status != "active":
        return []
    return [NewEvent(ev.PAIRING_COMPLETED, {**state.fields(), "completed_at": completed_at,
                                            "closed_cohort_event_id": closed_cohort_event_id})]


def choose_stay_in_touch(state: PairingState, *, actor: str, stay_in_touch: bool) -> list[NewEvent]:
    """A party of a completed pairing says whether they want to stay in touch; the same answer
    again changes nothing, a different one replaces it. Only the parties choose (nobody answers
    this for someone else)."""
    _require(state)
    role = state.role_of(actor)
    if role is None:
        raise Forbidden("not_a_party", "only the mentor and the mentee choose whether they stay in touch")
    if state.status != "completed":
        raise Conflict("not_completed", f"the pairing is {state.status}; staying in touch is chosen once it is "
                                        "completed (at its cohort's close)")
    current = state.mentor_stays_in_touch if role == "mentor" else state.mentee_stays_in_touch
    if current is stay_in_touch:
        return []
    other = state.mentee_stays_in_touch if role == "mentor" else state.mentor_stays_in_touch
    return [NewEvent(ev.STAY_IN_TOUCH_CHOSEN, {**state.fields(), "employee_id": actor, "role": role,
                                               "stay_in_touch": stay_in_touch,
                                               "staying_in_touch": bool(stay_in_touch and other)})]


def pairing_id_for_run(run_id: str, mentee_id: str) -> str:
    """A run's proposal id, computed: a replayed or resumed run creates each pairing exactly once."""
    return "par-" + hashlib.sha256(f"{run_id}|{mentee_id}".encode()).hexdigest()[:32]
