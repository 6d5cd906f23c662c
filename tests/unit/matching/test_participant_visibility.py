"""What a person sees of others: the whole record (self, admins), a card (open partners), nothing."""
from __future__ import annotations

from shared import directory

from shared.scopes import ProgrammeScopeReader, ProgrammeScopes

from services.matching.application.commands import Actor
from services.matching.application.partners import CARD_FIELDS, PartnersProjection, PartnersRepository, \
    managed_enrolment, visible_profile
from tests.unit.matching.conftest import ADMIN, REQUEST
from tests.unit.matching.fakes import SyncProjector


def _reader(matching):
    partners = SyncProjector(matching.store, [PartnersProjection(matching.database),
                                              ProgrammeScopes(matching.database, topics=())])
    repository = PartnersRepository(matching.database)
    scopes = ProgrammeScopeReader(matching.database)

    def sees(reader: str, person: str, *, admin: bool = False) -> dict | None:
        partners.catch_up()
        matching.projector.catch_up()
        doc = matching.participants.get(person)
        record = directory.public(doc) if doc is not None else None
        manager = managed_enrolment(scopes, matching.views, reader, person) is not None
        return visible_profile(record, reader=reader, reader_is_admin=admin, manager=manager,
                               partners=repository.open_partners(reader, person))
    return sees, partners


def _pairing_of(matching, cohort_id, mentee):
    return next(doc for doc in matching.pairings(cohort_id).values() if doc["mentee_id"] == mentee)


def test_self_and_admins_see_everything_partners_a_card_others_nothing(matching):
    cohort_id = matching.populated()
    matching.run(cohort_id)
    sees, _ = _reader(matching)
    pairing = _pairing_of(matching, cohort_id, "E002")
    mentor = pairing["mentor_id"]
    assert sees("E002", "E002")["level"] == 3
    assert sees("A000001", "E002", admin=True)["manager_id"] is None and "level" in sees("X", "E002", admin=True)
    card = sees(mentor, "E002")  # proposed: the mentor may look at who they were offered
    assert set(card) == set(CARD_FIELDS) and card["department"] == "Engineering"
    assert set(sees("E002", mentor)) == set(CARD_FIELDS)  # and the other way round
    assert sees("E003", "E002") is None  # a fellow mentee, not a partner
    assert sees("E002", "NOBODY") is None  # unknown: the same answer as for a stranger


def test_the_card_goes_once_the_pairing_is_declined_or_ended_and_comes_back_with_a_new_one(matching):
    cohort_id = matching.populated()
    matching.run(cohort_id)
    sees, _ = _reader(matching)
    pairing = _pairing_of(matching, cohort_id, "E002")
    matching.commands.accept(pairing["pairing_id"], Actor("E002", False), None, REQUEST)
    matching.commands.accept(pairing["pairing_id"], Actor(pairing["mentor_id"], False), None, REQUEST)
    assert sees(pairing["mentor_id"], "E002") is not None  # active
    matching.commands.end(pairing["pairing_id"], "by_admin", ADMIN, REQUEST)
    assert sees(pairing["mentor_id"], "E002") is None
    assert sees("E002", pairing["mentor_id"]) is None


def test_a_terminated_person_is_served_to_nobody(matching):
    cohort_id = matching.populated()
    matching.run(cohort_id)
    sees, _ = _reader(matching)
    mentor = _pairing_of(matching, cohort_id, "E002")["mentor_id"]
    matching.terminate("E002", "2026-03-02T10:00:00Z")
    assert sees("E002", "E002") is None
    assert sees("A000001", "E002", admin=True) is None
    assert sees(mentor, "E002") is None


def test_the_partners_view_rebuilt_or_replayed_is_the_same(matching):
    cohort_id = matching.populated()
    matching.run(cohort_id)
    pid = next(iter(matching.pairings(cohort_id)))
    matching.commands.end(pid, "by_admin", ADMIN, REQUEST)
    _, partners = _reader(matching)
    partners.catch_up()
    live = matching.database.snapshot("partners")
    assert live["partners"] and all(key.startswith("partners|") for key in live["partners"])
    assert {p["status"] for doc in live["partners"].values() for p in doc["pairings"]} == {"proposed", "ended"}
    partners.projections[0].reset()
    partners.rewind()
    partners.catch_up()
    assert matching.database.snapshot("partners") == live
    partners.rewind()  # applying everything twice = once
    partners.catch_up()
    assert matching.database.snapshot("partners") == live


def test_managers_of_a_programme_the_person_is_enrolled_in_see_the_record_while_the_enrolment_lasts(matching):
    cohort_id = matching.populated()
    program_id = matching.views.cohorts.get(cohort_id)["program_id"]
    matching.hire("G001", level=6)  # the programme's manager
    matching.hire("G002", level=6)  # another programme's manager
    matching.commands.set_program_managers(program_id, ["G001"], ADMIN, REQUEST)
    elsewhere = matching.commands.create_program("Sales", None, ADMIN, REQUEST)
    matching.commands.set_program_managers(elsewhere, ["G002"], ADMIN, REQUEST)
    sees, _ = _reader(matching)
    assert sees("G001", "E002") == sees("E002", "E002")  # the whole record
    assert sees("G001", "E002")["level"] == 3
    assert sees("G002", "E002") is None  # a manager, but not of a programme E002 is in
    assert sees("G001", "G002") is None  # not enrolled anywhere G001 manages
    matching.commands.withdraw(cohort_id, "E002", "withdrawn", Actor("E002", False), REQUEST)
    assert sees("G001", "E002") is None  # no longer enrolled
    assert sees("G001", "E003") is not None
    for step in ("active", "closed"):
        matching.commands.change_cohort_status(cohort_id, step, ADMIN, REQUEST)
    assert sees("G001", "E003") is None  # the cohort is over
