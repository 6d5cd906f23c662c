"""The routing policy with in-memory fakes: each source event routed once; a leaver's notices only
for pairings that existed before the termination."""
from __future__ import annotations

from datetime import timedelta

from shared.events.catalog.hris import EMPLOYEE_TERMINATED
from shared.events.catalog.matching import PAIRING_DECLINED, PAIRING_PROPOSED
from shared.events.catalog.sessions import MEETING_HELD, PAIRING_AT_RISK
from shared.events.envelope import new_event
from services.notifications.adapters.mongo import HeldMeetingOrdinals
from services.notifications.application.policies import RoutingPolicy
from tests.unit.sessions.fakedb import FakeDatabase
from tests.unit.notifications.fakes import FakeScopes, World

PAIRING = {"pairing_id": "P1", "cohort_id": "C1", "mentor_id": "M", "mentee_id": "E"}


def event(event_type, data, world, *, ago=timedelta(0)):
    return new_event(event_type=event_type, schema_version=1, producer="test", aggregate_type="x",
                     aggregate_id=data.get("pairing_id") or data["employee_id"], aggregate_version=1, data=data,
                     correlation_id="c", causation_id=None, occurred_at=world.clock.now() - ago)


def policy(world, handed, held=None):
    return RoutingPolicy(directory=world.directory, deliveries=world.deliveries, scopes=world.scopes,
                         enqueuer=world.enqueuer(handoff=lambda doc, people: handed.append(doc)),
                         held=held or HeldMeetingOrdinals(FakeDatabase()))


def test_an_event_is_routed_once_however_often_it_arrives():
    world, handed = World(), []
    routing = policy(world, handed)
    proposed = event(PAIRING_PROPOSED, {**PAIRING, "score": 0.5, "reasons": [], "proposed_by": "algorithm",
                                        "matching_run_id": None, "answer_by": "2030-01-01T00:00:00Z"}, world)
    routing.handlers()[PAIRING_PROPOSED](proposed)
    world.deliveries.docs.clear()  # even if the deliveries were gone, the mark says: routed already
    routing.handlers()[PAIRING_PROPOSED](proposed)
    assert len(handed) == 4 and world.deliveries.docs == {}
    assert routing.collections == ()  # never replayed by a rebuild


def test_a_leaver_is_announced_for_pairings_that_existed_before_the_termination_only():
    world, handed = World(people=("M", "E", "N", "A")), []
    now = world.clock.now()
    world.directory.admins = {"C1": ["A"]}
    world.directory.pairings = {
        "P1": {**PAIRING, "_id": "P1", "status": "active", "proposed_at": (now - timedelta(days=30)).isoformat()},
        # proposed after the termination (a rehire, then an old termination replayed): not this leaver's news
        "P2": {"_id": "P2", "pairing_id": "P2", "cohort_id": "C1", "mentor_id": "M", "mentee_id": "N",
               "status": "proposed", "proposed_at": (now + timedelta(days=1)).isoformat()},
    }
    world.directory.people["M"]["status"] = "terminated"
    terminated = event(EMPLOYEE_TERMINATED, {"employee_id": "M", "terminated_on": "2030-01-01"}, world)
    policy(world, handed).handlers()[EMPLOYEE_TERMINATED](terminated)
    told = sorted({(doc["recipient_id"], doc["context"]["pairing_id"]) for doc in handed})
    assert told == [("A", "P1"), ("E", "P1")]


def test_the_programme_managers_are_told_what_the_cohort_creator_is_each_once_by_their_own_preferences():
    # A created the cohort and also manages its programme; G and H manage it; X manages another one.
    world, handed = World(people=("M", "E", "A", "G", "H", "X"), admins={"C1": ["A"]},
                          preferences={"H": {"channels": {"pairing_at_risk": {"email": False}}}}), []
    world.scopes = FakeScopes(cohorts={"C1": "PG1", "C9": "PG9"}, managers={"PG1": {"A", "G", "H"}, "PG9": {"X"}})
    world.directory.people["G"]["display_name"] = "Gisela Manager"
    routing = policy(world, handed)
    at_risk = event(PAIRING_AT_RISK, {**PAIRING, "last_meeting_at": None, "days_without_meeting": 30,
                                      "detected_at": "2030-01-01T00:00:00Z"}, world)
    routing.handlers()[PAIRING_AT_RISK](at_risk)
    sent_to = sorted((doc["recipient_id"], doc["channel"], doc["role"]) for doc in handed)
    assert sent_to == [("A", "email", "admin"), ("A", "inapp", "admin"), ("E", "email", "mentee"),
                       ("E", "inapp", "mentee"), ("G", "email", "admin"), ("G", "inapp", "admin"),
                       ("H", "inapp", "admin"), ("M", "email", "mentor"), ("M", "inapp", "mentor")]
    assert world.sender("s").process([world.deliveries.get(doc["_id"]) for doc in handed]) == len(handed)
    to_gisela = next(message for message in world.email.sent if message.recipient_id == "G")
    assert to_gisela.subject.startswith("A pairing is at risk") and "Hello Gisela Manager" in to_gisela.text
    # Redelivered, or routed again after a crash before the routed mark: nobody is told twice.
    routing.handlers()[PAIRING_AT_RISK](at_risk)
    world.deliveries.routed.clear()
    routing.handlers()[PAIRING_AT_RISK](at_risk)
    assert len(handed) == 9 and len(world.email.sent) == 4  # M, E, A, G (H turned email off)
    # A manager who left the company is told nothing; the other admin matters reach managers too.
    world.directory.people["G"]["status"] = "terminated"
    declined = event(PAIRING_DECLINED, {**PAIRING, "declined_by": "E", "reason": "no_time"}, world)
    routing.handlers()[PAIRING_DECLINED](declined)
    assert sorted({doc["recipient_id"] for doc in handed[9:]}) == ["A", "E", "H"]


def _held(world, meeting_id: str):
    return new_event(event_type=MEETING_HELD, schema_version=1, producer="sessions", aggregate_type="meeting",
                     aggregate_id=meeting_id, aggregate_version=2, correlation_id="c", causation_id=None,
                     occurred_at=world.clock.now(),
                     data={**PAIRING, "meeting_id": meeting_id, "held_at": world.clock.now().isoformat(),
                           "duration_minutes": 30, "attendees": ["M", "E"]})


def _thanks(handed) -> set[tuple[str, str]]:
    """Who was asked to say thank you, after which meeting (a delivery per channel)."""
    return {(d["recipient_id"], d["context"]["meeting_id"]) for d in handed if d["category"] == "gratitude_prompt"}


def test_the_fifth_held_meeting_prompts_the_mentee_once_however_its_event_is_redelivered():
    world, handed = World(), []
    held = HeldMeetingOrdinals(FakeDatabase())
    routing = policy(world, handed, held)
    events = {f"MT{n}": _held(world, f"MT{n}") for n in range(1, 8)}
    for envelope in events.values():
        routing.handlers()[MEETING_HELD](envelope)
    assert _thanks(handed) == {("E", "MT5")}  # the mentee only, at the fifth
    prompts = len(handed)
    world.deliveries.routed.clear()  # redelivered past the routed mark (a crash before it): same number, same key
    routing.handlers()[MEETING_HELD](events["MT5"])
    assert len(handed) == prompts  # nothing new enqueued
    assert held.number("P1", "MT5", bound=5) == 5 and held.number("P1", "MT6", bound=5) is None


def test_two_consumers_numbering_the_same_pairings_meetings_at_once_give_each_meeting_one_number():
    held = HeldMeetingOrdinals(FakeDatabase())
    order = ["MT1", "MT2", "MT1", "MT3", "MT2", "MT4", "MT5", "MT3", "MT5", "MT6"]  # interleaved, redelivered
    numbers = {meeting: held.number("P1", meeting, bound=5) for meeting in order}
    assert sorted(n for n in numbers.values() if n) == [1, 2, 3, 4, 5] and numbers["MT6"] is None
    assert [held.number("P1", m, bound=5) for m in ("MT1", "MT2", "MT3", "MT4", "MT5")] == [1, 2, 3, 4, 5]


def test_meetings_held_before_numbering_existed_count_so_no_later_meeting_is_called_the_fifth():
    world, handed = World(), []
    for n in range(1, 5):  # four held before the upgrade: in the view, never numbered
        world.directory.meetings[f"OLD{n}"] = {"_id": f"OLD{n}", "meeting_id": f"OLD{n}", "pairing_id": "P1",
                                               "status": "held", "starts_at": f"2026-01-0{n}T09:00:00Z"}
    routing = policy(world, handed)
    routing.handlers()[MEETING_HELD](_held(world, "NEW1"))
    routing.handlers()[MEETING_HELD](_held(world, "NEW2"))
    assert _thanks(handed) == {("E", "NEW1")}
