"""The routing policy with in-memory fakes: each source event routed once; a leaver's notices only
for pairings that existed before the termination."""
from __future__ import annotations

from datetime import timedelta

from shared.events.catalog.hris import EMPLOYEE_TERMINATED
from shared.events.catalog.matching import PAIRING_DECLINED, PAIRING_PROPOSED
from shared.events.catalog.sessions import PAIRING_AT_RISK
from shared.events.envelope import new_event
from services.notifications.application.policies import RoutingPolicy
from tests.unit.notifications.fakes import FakeScopes, World

PAIRING = {"pairing_id": "P1", "cohort_id": "C1", "mentor_id": "M", "mentee_id": "E"}


def event(event_type, data, world, *, ago=timedelta(0)):
    return new_event(event_type=event_type, schema_version=1, producer="test", aggregate_type="x",
                     aggregate_id=data.get("pairing_id") or data["employee_id"], aggregate_version=1, data=data,
                     correlation_id="c", causation_id=None, occurred_at=world.clock.now() - ago)


def policy(world, handed):
    return RoutingPolicy(directory=world.directory, deliveries=world.deliveries, scopes=world.scopes,
                         enqueuer=world.enqueuer(handoff=lambda doc, people: handed.append(doc)))


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
