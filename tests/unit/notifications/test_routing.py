"""Who is told what (issue 6), on envelopes' data shaped as docs/events.md says."""
from __future__ import annotations

from services.notifications.domain.routing import CATEGORIES, Facts, reminder_intents, route

PAIRING = {"pairing_id": "P1", "cohort_id": "C1", "mentor_id": "M", "mentee_id": "E"}
ADMINS = Facts(cohort_admins={"C1": ["A1", "A2"]})


def who(intents):
    return sorted((i.recipient_id, i.role, i.category) for i in intents)


def test_proposal_goes_to_both_parties_with_each_others_id():
    intents = route("PairingProposed", "ev1", {**PAIRING, "score": 0.9, "reasons": ["x"], "proposed_by": "algorithm",
                                                "matching_run_id": None, "answer_by": "2026-01-01T00:00:00Z"}, ADMINS)
    assert who(intents) == [("E", "mentee", "pairing_proposed"), ("M", "mentor", "pairing_proposed")]
    assert {i.recipient_id: i.context["other_id"] for i in intents} == {"M": "E", "E": "M"}
    assert all(i.dedupe_key == "ev1" for i in intents)


def test_a_mentees_own_request_asks_the_mentor_only_and_tells_the_mentee_nothing():
    intents = route("PairingProposed", "ev1", {**PAIRING, "score": 0.9, "reasons": ["x"], "proposed_by": "E",
                                                "matching_run_id": None, "answer_by": "2026-01-01T00:00:00Z"}, ADMINS)
    assert who(intents) == [("M", "mentor", "mentor_request")] and intents[0].context["other_id"] == "E"


def test_declined_and_expired_go_to_the_mentee_and_the_cohort_admins_not_the_mentor():
    for event_type, category in (("PairingDeclined", "pairing_declined"), ("PairingExpired", "pairing_expired")):
        intents = route(event_type, "ev", {**PAIRING, "declined_by": "M", "reason": "no_time"}, ADMINS)
        assert who(intents) == [("A1", "admin", category), ("A2", "admin", category), ("E", "mentee", category)]


def test_meeting_scheduled_goes_to_both_with_the_invite_and_held_asks_both_for_feedback():
    meeting = {**PAIRING, "meeting_id": "MT", "organizer_id": "M", "starts_at": "2026-01-02T10:00:00Z",
               "duration_minutes": 45, "timezone": "Europe/Berlin"}
    scheduled = route("MeetingScheduled", "ev", meeting, ADMINS)
    assert who(scheduled) == [("E", "mentee", "meeting_scheduled"), ("M", "mentor", "meeting_scheduled")]
    assert all(i.attach_ics for i in scheduled)
    held = route("MeetingHeld", "ev2", {**meeting, "held_at": "2026-01-02T10:00:00Z", "attendees": ["M", "E"]})
    assert who(held) == [("E", "mentee", "feedback_request"), ("M", "mentor", "feedback_request")]
    assert not any(i.attach_ics for i in held)


def test_goals_to_the_mentor_review_and_kudos_to_that_person():
    goals = route("GoalsRevised", "g", {**PAIRING, "revision": 2, "revised_by": "E", "goals": []}, ADMINS)
    assert who(goals) == [("M", "mentor", "goals_revised")]
    terms = {**PAIRING, "revision": 1, "cadence_days": 14, "channel": "video", "confidentiality": "between_us"}
    assert who(route("AgreementRevised", "a1", {**terms, "revised_by": "E"}, ADMINS)) == [
        ("M", "mentor", "agreement_proposed")]  # the mentee wrote it: the mentor is asked to confirm
    assert who(route("AgreementRevised", "a2", {**terms, "revision": 2, "revised_by": "M"}, ADMINS)) == [
        ("E", "mentee", "agreement_proposed")]
    review = route("ReviewRequested", "r", {"review_id": "R", "pairing_id": "P1", "cohort_id": "C1",
                                            "employee_id": "E", "due_on": "2026-02-01"}, ADMINS)
    assert who(review) == [("E", "recipient", "review_due")]
    kudos = route("KudosSent", "k", {"kudos_id": "K", "pairing_id": "P1", "cohort_id": "C1", "from_id": "E",
                                     "to_id": "M"}, ADMINS)
    assert who(kudos) == [("M", "recipient", "kudos")]


def test_at_risk_goes_to_both_and_admins():
    intents = route("PairingAtRisk", "ev", {**PAIRING, "days_without_meeting": 30, "detected_at": "x"}, ADMINS)
    assert [r for r, _, _ in who(intents)] == ["A1", "A2", "E", "M"]


def test_pairing_ended_by_a_party_tells_the_other_party_and_admins_not_the_one_who_ended_it():
    intents = route("PairingEnded", "ev", {**PAIRING, "reason": "completed", "ended_by": "M"}, ADMINS)
    assert who(intents) == [("A1", "admin", "pairing_ended"), ("A2", "admin", "pairing_ended"),
                            ("E", "mentee", "pairing_ended")]
    by_admin = route("PairingEnded", "ev", {**PAIRING, "reason": "by_admin", "ended_by": "A1"}, ADMINS)
    assert [r for r, _, _ in who(by_admin)] == ["A1", "A2", "E", "M"]


def test_a_leaver_is_announced_to_the_other_party_and_admins_once_per_pairing_from_either_event():
    facts = Facts(cohort_admins={"C1": ["A1"]}, terminated=frozenset({"M"}), pairings_of_leaver=(PAIRING,))
    from_hris = route("EmployeeTerminated", "t1", {"employee_id": "M", "terminated_on": "2026-01-01"}, facts)
    assert who(from_hris) == [("A1", "admin", "participant_left"), ("E", "mentee", "participant_left")]
    from_matching = route("PairingEnded", "e1", {**PAIRING, "reason": "participant_left", "ended_by": "system"}, facts)
    assert who(from_matching) == who(from_hris)
    # the same dedupe key, so the delivery records make the second event send nothing
    assert {i.dedupe_key for i in from_hris} == {i.dedupe_key for i in from_matching} == {"participant-left:P1"}


def test_an_admin_who_is_also_a_party_gets_one_message_and_leavers_get_none():
    facts = Facts(cohort_admins={"C1": ["M"]}, terminated=frozenset({"E"}))
    intents = route("PairingAtRisk", "ev", {**PAIRING, "days_without_meeting": 30, "detected_at": "x"}, facts)
    assert who(intents) == [("M", "mentor", "pairing_at_risk")]


def test_unrouted_events_tell_nobody_and_reminders_go_to_both():
    assert route("CohortCreated", "c", {"cohort_id": "C1"}, ADMINS) == []
    assert route("PairingAccepted", "c", PAIRING, ADMINS) == []
    intents = reminder_intents({**PAIRING, "meeting_id": "MT", "starts_at": "2026-01-02T10:00:00Z",
                                "duration_minutes": 30})
    assert who(intents) == [("E", "mentee", "meeting_reminder"), ("M", "mentor", "meeting_reminder")]
    assert {i.dedupe_key for i in intents} == {"reminder:MT:2026-01-02T10:00:00Z"}


def test_what_admins_are_told_also_goes_to_the_cohort_chat_channel_when_it_has_one():
    with_channel = Facts(cohort_admins={"C1": ["A1"]}, cohort_channels=frozenset({"C1"}))
    at_risk = route("PairingAtRisk", "ev", {**PAIRING, "days_without_meeting": 30, "detected_at": "2026-01-01T00:00:00Z"},
                    with_channel)
    assert ("cohort:C1", "admin", "pairing_at_risk") in who(at_risk)
    proposed = route("PairingProposed", "ev2", {**PAIRING, "score": 0.9, "reasons": [], "proposed_by": "algorithm",
                                                "matching_run_id": None, "answer_by": "2026-01-01T00:00:00Z"}, with_channel)
    assert "cohort:C1" not in {i.recipient_id for i in proposed}  # the parties' own news stays theirs
    assert "cohort:C1" not in {i.recipient_id for i in route("PairingAtRisk", "ev3", {**PAIRING}, ADMINS)}


def test_gratitude_is_prompted_when_a_goal_is_achieved_and_when_the_cohort_closes_to_mentees_only():
    achieved = route("GoalAchieved", "ga", {**PAIRING, "goal_id": "G1", "revision": 3, "achieved_by": "M"}, ADMINS)
    assert who(achieved) == [("E", "mentee", "gratitude_prompt")]
    assert achieved[0].context["moment"] == "goal_achieved" and achieved[0].context["other_id"] == "M"
    second = {"pairing_id": "P2", "cohort_id": "C1", "mentor_id": "M", "mentee_id": "F"}
    closing = Facts(cohort_admins={"C1": ["A1"]}, active_pairings_of_cohort=(PAIRING, second), terminated=frozenset({"F"}))
    closed = {"cohort_id": "C1", "program_id": "PR", "status": "closed", "previous_status": "active", "changed_by": "A1"}
    intents = route("CohortStatusChanged", "cs", closed, closing)
    assert who(intents) == [("E", "mentee", "gratitude_prompt")]  # F left the company: nobody to prompt
    assert intents[0].context["moment"] == "cohort_closing" and intents[0].dedupe_key == "gratitude:cs:P1"
    assert route("CohortStatusChanged", "cs2", {**closed, "status": "active", "previous_status": "matching"},
                 closing) == []


def test_a_thank_you_shared_with_the_mentors_manager_tells_the_manager_too_and_the_mentor_as_before():
    shared = {"kudos_id": "K", "pairing_id": "P1", "cohort_id": "C1", "from_id": "E", "to_id": "M",
              "shared_with_id": "B"}
    intents = route("KudosSent", "k", shared, ADMINS)
    assert who(intents) == [("B", "manager", "kudos_shared"), ("M", "recipient", "kudos")]
    assert not CATEGORIES["kudos_shared"]  # recognition, not urgent: it may wait for the digest
    unshared = route("KudosSent", "k2", {**shared, "shared_with_id": None}, ADMINS)
    assert who(unshared) == [("M", "recipient", "kudos")]
    assert who(route("KudosSent", "k3", shared, Facts(terminated=frozenset({"B"})))) == [("M", "recipient", "kudos")]


def test_a_completed_pairing_thanks_both_parties_not_urgently_and_nobody_who_left():
    completed = {**PAIRING, "completed_at": "2026-08-31T17:00:00Z", "closed_cohort_event_id": "cs"}
    intents = route("PairingCompleted", "pc", completed, ADMINS)
    assert who(intents) == [("E", "mentee", "pairing_completed"), ("M", "mentor", "pairing_completed")]
    assert {i.recipient_id: i.context["other_id"] for i in intents} == {"M": "E", "E": "M"}
    assert not CATEGORIES["pairing_completed"]  # thanks may wait for the digest
    left = route("PairingCompleted", "pc", completed, Facts(terminated=frozenset({"M"})))
    assert who(left) == [("E", "mentee", "pairing_completed")]
