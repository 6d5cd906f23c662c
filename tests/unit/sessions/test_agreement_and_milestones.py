"""The pair's agreement and goals' milestones and action items (issue 15), without servers: the pure
rules, then the commands, views and retention on the in-memory context of test_application."""
from __future__ import annotations

import json

import pytest

from shared.clock import rfc3339
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.events.catalog.sessions import (
    AGREEMENT_CONFIRMED, AGREEMENT_CONFIRMED_BY_PARTY, AGREEMENT_REVISED, GOAL_ACHIEVED, GOALS_REVISED,
)
from shared.events.envelope import new_event
from tests.sessions_scanning_report import cohort_report
from services.sessions.domain import agreement, goals
from services.sessions.domain.decision import Decision
from services.sessions.domain.pairing import PairingInfo
from tests.unit.sessions.test_application import NOW, PAIRING, context, request

TERMS = {"cadence_days": 21, "channel": "video", "confidentiality": "between_us"}


def _stored(decisions, start_version=0):
    """Decisions as stored envelopes, and their private parts keyed by event id (like LoadedStream)."""
    envelopes, private, version = [], {}, start_version
    for decision in decisions:
        for index, event in enumerate(decision):
            version += 1
            envelope = new_event(event_type=event.event_type, schema_version=1, producer="sessions",
                                 aggregate_type="pairing-agreement", aggregate_id="p1", aggregate_version=version,
                                 data=event.data, correlation_id="c", causation_id=None)
            envelopes.append(envelope)
            if index in decision.private:
                private[envelope.event_id] = decision.private[index]
    return envelopes, private


class Pair:
    """An agreement folded from the decisions taken so far (the stream, kept in memory)."""

    def __init__(self, pairing: PairingInfo = PAIRING):
        self.pairing = pairing
        self.decisions: list = []

    @property
    def state(self) -> agreement.Agreement:
        return agreement.fold(*_stored(self.decisions))

    def revise(self, by, expected=None, expectations=None, **terms):
        expected = self.state.revision if expected is None else expected
        decision = agreement.revise(self.state, self.pairing, expected_revision=expected, by=by,
                                    expectations=expectations, **{**TERMS, **terms})
        self.decisions.append(decision)
        return decision

    def confirm(self, by, revision=None):
        decision = agreement.confirm(self.state, self.pairing, by=by, revision=revision, now=NOW)
        self.decisions.append(decision)
        return decision


# -- the agreement's rules -------------------------------------------------------------------------

def test_both_parties_must_confirm_and_the_second_confirmation_confirms_the_agreement():
    pair = Pair()
    [revised] = pair.revise("mentee-1", expectations=["Honest feedback on my drafts"])
    assert revised.event_type == AGREEMENT_REVISED and revised.data["revision"] == 1
    assert "drafts" not in json.dumps(revised.data)  # the words stay in the commit's private part
    [first] = pair.confirm("mentee-1", revision=1)
    assert first.event_type == AGREEMENT_CONFIRMED_BY_PARTY
    assert not pair.state.confirmed and pair.state.cadence_in_force is None
    assert pair.confirm("mentee-1") == []  # confirming twice changes nothing
    by_party, confirmed = pair.confirm("mentor-1", revision=1)
    assert (by_party.event_type, confirmed.event_type) == (AGREEMENT_CONFIRMED_BY_PARTY, AGREEMENT_CONFIRMED)
    assert confirmed.data["cadence_days"] == 21 and confirmed.data["confirmed_at"] == rfc3339(NOW)
    state = pair.state
    assert state.confirmed and state.cadence_in_force == 21 and sorted(state.confirmed_by) == ["mentee-1", "mentor-1"]


def test_a_later_revision_needs_confirming_again_while_the_confirmed_terms_stay_in_force():
    pair = Pair()
    pair.revise("mentor-1")
    pair.confirm("mentor-1")
    pair.confirm("mentee-1")
    pair.revise("mentee-1", cadence_days=7)
    state = pair.state
    assert state.revision == 2 and state.confirmed_by == [] and not state.confirmed
    assert state.cadence_in_force == 21  # what both agreed to holds until both agree to something else
    pair.confirm("mentee-1")
    pair.confirm("mentor-1")
    assert pair.state.confirmed and pair.state.cadence_in_force == 7


def test_confirming_another_revision_than_the_current_one_is_a_conflict():
    pair = Pair()
    with pytest.raises(Conflict) as nothing:
        pair.confirm("mentee-1")
    assert nothing.value.code == "no_agreement"
    pair.revise("mentor-1")
    pair.revise("mentee-1", cadence_days=10)
    with pytest.raises(Conflict) as stale:
        pair.confirm("mentor-1", revision=1)  # the mentor read revision 1; the mentee changed it since
    assert stale.value.extra == {"current_revision": 2}


def test_a_stale_revision_is_a_conflict_carrying_the_current_one():
    pair = Pair()
    pair.revise("mentor-1")
    with pytest.raises(Conflict) as stale:
        pair.revise("mentee-1", expected=0, cadence_days=30)
    assert stale.value.code == "stale_revision" and stale.value.extra == {"current_revision": 1}


def test_only_the_parties_of_an_active_pairing_revise_and_confirm():
    pair = Pair()
    for who in ("admin-1", "someone-else"):
        with pytest.raises(Forbidden):
            pair.revise(who)
    pair.revise("mentor-1")
    with pytest.raises(Forbidden):
        pair.confirm("admin-1")
    ended = Pair(PairingInfo("p1", "c1", "mentor-1", "mentee-1", "ended"))
    with pytest.raises(Conflict) as not_active:
        ended.revise("mentor-1")
    assert not_active.value.code == "pairing_not_active"


@pytest.mark.parametrize("terms, field", [
    ({"cadence_days": 0}, "cadence_days"), ({"cadence_days": 91}, "cadence_days"),
    ({"channel": "pigeon"}, "channel"), ({"confidentiality": "public"}, "confidentiality"),
    ({"expectations": ["x"] * 6}, "expectations"), ({"expectations": ["x" * 281]}, "expectations.0"),
    ({"expectations": ["fine", "  "]}, "expectations.1"),
])
def test_bounds(terms, field):
    with pytest.raises(Invalid) as bad:
        Pair().revise("mentor-1", **terms)
    assert bad.value.field == field


def test_each_party_writes_only_their_own_expectations_and_an_unchanged_revision_appends_nothing():
    pair = Pair()
    pair.revise("mentor-1", expectations=["Come with one question each time"])
    pair.revise("mentee-1", expectations=["Introduce me to the design guild"])
    assert pair.state.expectations == {"mentor-1": ["Come with one question each time"],
                                       "mentee-1": ["Introduce me to the design guild"]}
    pair.revise("mentor-1", channel="in_person")  # expectations left out: everyone's stay
    assert pair.state.expectations["mentor-1"] == ["Come with one question each time"]
    pair.confirm("mentee-1")
    assert pair.revise("mentor-1", channel="in_person") == []  # nothing changed: the confirmation stands
    assert pair.state.confirmed_by == ["mentee-1"]
    pair.revise("mentee-1", expectations=[])
    assert pair.state.expectations == {"mentor-1": ["Come with one question each time"]}


# -- milestones, action items, GoalAchieved ---------------------------------------------------------

def _goals_state(decisions):
    return goals.fold(*_stored(decisions))


def test_milestones_and_action_items_keep_their_text_private_and_their_owner_a_party():
    state = goals.Goals()
    decision = goals.revise(state, PAIRING, expected_revision=0, by="mentee-1", goals=[{
        "title": "Speak at the all-hands", "status": "open",
        "milestones": [{"text": "Draft the talk", "owner_id": "mentee-1", "due_on": "2026-04-01"}],
        "action_items": [{"text": "Book a rehearsal room", "owner_id": "mentor-1"}]}])
    [revised] = decision
    assert revised.event_type == GOALS_REVISED
    published = json.dumps(revised.data)
    assert "Draft the talk" not in published and "rehearsal" not in published
    item = revised.data["goals"][0]["milestones"][0]
    assert item["owner_id"] == "mentee-1" and item["due_on"] == "2026-04-01" and item["done"] is False
    state = _goals_state([decision])
    goal = state.goals[0]
    assert goal["milestones"][0]["text"] == "Draft the talk"
    assert goal["action_items"][0]["text"] == "Book a rehearsal room"
    with pytest.raises(Invalid) as stranger:
        goals.revise(state, PAIRING, expected_revision=1, by="mentee-1", goals=[
            dict(goal, action_items=[{"text": "x", "owner_id": "someone-else"}])])
    assert stranger.value.field == "goals.0.action_items.0.owner_id"
    with pytest.raises(Invalid) as too_many:
        goals.revise(state, PAIRING, expected_revision=1, by="mentee-1", goals=[
            dict(goal, milestones=[{"text": "x", "owner_id": "mentee-1"}] * 11)])
    assert too_many.value.field == "goals.0.milestones"


def test_a_goal_that_leaves_its_items_out_keeps_them_and_done_is_revised():
    first = goals.revise(goals.Goals(), PAIRING, expected_revision=0, by="mentee-1", goals=[{
        "title": "Lead a project", "status": "open",
        "milestones": [{"text": "Find a sponsor", "owner_id": "mentee-1"}]}])
    state = _goals_state([first])
    goal = state.goals[0]
    kept = goals.revise(state, PAIRING, expected_revision=1, by="mentor-1", goals=[
        {"goal_id": goal["goal_id"], "title": "Lead a project", "status": "open", "progress": 20}])
    state = _goals_state([first, kept])
    assert [m["text"] for m in state.goals[0]["milestones"]] == ["Find a sponsor"]  # an older client wipes nothing
    milestone = state.goals[0]["milestones"][0]
    ticked = goals.revise(state, PAIRING, expected_revision=2, by="mentee-1", goals=[
        dict(state.goals[0], milestones=[dict(milestone, done=True)])])
    state = _goals_state([first, kept, ticked])
    assert state.goals[0]["milestones"][0] == dict(milestone, done=True)


def test_achieving_a_goal_is_an_event_once():
    first = goals.revise(goals.Goals(), PAIRING, expected_revision=0, by="mentee-1",
                         goals=[{"title": "Lead a project", "status": "open"}])
    state = _goals_state([first])
    goal_id = state.goals[0]["goal_id"]
    revised, achieved = goals.achieve(state, PAIRING, goal_id=goal_id, by="mentor-1")
    assert revised.data["goals"][0]["status"] == "achieved" and revised.data["goals"][0]["progress"] == 100
    assert achieved.event_type == GOAL_ACHIEVED
    assert achieved.data == {"pairing_id": "p1", "cohort_id": "c1", "mentor_id": "mentor-1", "mentee_id": "mentee-1",
                             "goal_id": goal_id, "revision": 2, "achieved_by": "mentor-1"}
    state = _goals_state([first, Decision([revised, achieved])])
    assert goals.achieve(state, PAIRING, goal_id=goal_id, by="mentee-1") == []
    again = goals.revise(state, PAIRING, expected_revision=2, by="mentee-1", goals=state.goals)
    assert [e.event_type for e in again] == [GOALS_REVISED]  # still achieved: no second GoalAchieved
    with pytest.raises(NotFound):
        goals.achieve(state, PAIRING, goal_id="nope", by="mentee-1")


# -- commands, views, retention (in memory) ----------------------------------------------------------

def test_a_confirmed_agreement_s_cadence_drives_the_risk_clock_of_its_pairing():
    ctx = context()  # cohort cadence 7; the pairing became active 30 days ago, nothing held since

    def propose(cadence_days, revision):  # the mentor proposes and confirms; the mentee has not yet
        ctx.agreements.revise(PAIRING, expected_revision=revision - 1, by="mentor-1", cadence_days=cadence_days,
                              channel="video", confidentiality="between_us", expectations=None, causation=request())
        ctx.agreements.confirm(PAIRING, by="mentor-1", revision=revision, causation=request())
        ctx.projector.catch_up()

    propose(60, 1)
    assert ctx.agreements_view.cadence_of("p1") is None  # one confirmation is not an agreement
    ctx.agreements.confirm(PAIRING, by="mentee-1", revision=1, causation=request())
    ctx.projector.catch_up()
    assert ctx.agreements_view.cadence_of("p1") == 60
    assert ctx.risk.check_all(NOW) == {"c1": 0}  # 30 quiet days: late for the cohort, fine for this pair
    report = cohort_report(ctx.pairings, ctx.meetings_view, "c1", NOW, ctx.agreements_view)
    assert report["items"][0]["cadence_days"] == 60 and report["items"][0]["status"] == "too_early"
    propose(14, 2)  # proposed, not yet confirmed by both: the agreed 60 days still hold
    assert ctx.risk.check_all(NOW) == {"c1": 0}
    ctx.agreements.confirm(PAIRING, by="mentee-1", revision=2, causation=request())
    ctx.projector.catch_up()
    assert ctx.risk.check_all(NOW) == {"c1": 1}  # both agreed to 14 days: 30 quiet days are too many
    assert [e.event_type for e in ctx.store.load("p1").events][-1] == "PairingAtRisk"


def test_a_retried_revision_gets_its_first_answer_and_the_words_stay_out_of_events():
    ctx = context()
    attempt = request()
    kwargs = dict(by="mentee-1", cadence_days=14, channel="chat", confidentiality="programme_team",
                  expectations=["Help me prepare for my promotion case"], causation=attempt)
    first = ctx.agreements.revise(PAIRING, expected_revision=0, **kwargs)
    retry = ctx.agreements.revise(PAIRING, expected_revision=0, **kwargs)  # the answer was lost
    assert retry.position == 0 and retry.agreement.revision == first.agreement.revision == 1
    stream = ctx.store.load("p1")
    assert "promotion" not in json.dumps([e.to_dict() for e in stream.events])
    assert ctx.agreements.current("p1").expectations == {"mentee-1": ["Help me prepare for my promotion case"]}


def test_a_retried_goals_revision_gets_its_first_answer_not_a_stale_revision_refusal():
    ctx = context()
    attempt = request()
    goals = [{"title": "Lead a project", "status": "open"}]
    first = ctx.goals.revise(PAIRING, expected_revision=0, by="mentee-1", goals=goals, causation=attempt)
    retry = ctx.goals.revise(PAIRING, expected_revision=0, by="mentee-1", goals=goals, causation=attempt)
    assert retry.revision == first.revision == 1 and len(retry.history) == 1
    with pytest.raises(Conflict):  # another request with the same stale revision is still refused
        ctx.goals.revise(PAIRING, expected_revision=0, by="mentee-1", goals=goals, causation=request())


def test_retention_forgets_expectations_and_item_texts_after_the_pairing_ended():
    ctx = context()
    ctx.agreements.revise(PAIRING, expected_revision=0, by="mentee-1", cadence_days=14, channel="phone",
                          confidentiality="between_us", expectations=["Weekly check-ins"], causation=request())
    ctx.goals.revise(PAIRING, expected_revision=0, by="mentee-1", causation=request(), goals=[{
        "title": "Lead a project", "status": "open", "action_items": [{"text": "Ask my manager", "owner_id": "mentee-1"}]}])
    ctx.database["pairings"].update_one({"_id": "p1"}, {"$set": {"status": "ended", "ended_at": rfc3339(NOW),
                                                                 "version": 3}})
    ctx.clock.advance(days=366)
    assert ctx.retention.run() == 1
    state = ctx.agreements.current("p1")
    assert state.revision == 1 and state.terms["channel"] == "phone" and state.expectations == {}
    item = ctx.goals.current("p1").goals[0]["action_items"][0]
    assert item["text"] is None and item["owner_id"] == "mentee-1"  # the item stays, its words go
