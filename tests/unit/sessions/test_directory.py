"""shared.directory: the HRIS fold ends in the newest record whatever the order, the duplicates,
or the way records are cut into batches."""
from __future__ import annotations

import uuid

from hypothesis import given, settings, strategies as st

from shared.directory import DirectoryProjection, apply_record, empty, fold, stamp
from shared.events.catalog.hris import EMPLOYEE_TERMINATED, EMPLOYEE_UPSERTED
from shared.events.envelope import Envelope
from tests.unit.sessions.fakedb import FakeDatabase

KEPT = ("display_name", "email", "timezone")
PEOPLE = ("E1", "E2", "E3")
# Few distinct instants (written in two equivalent ways) so ties and formats both happen.
INSTANTS = ["2026-01-0{d}T09:00:00Z", "2026-01-0{d}T09:00:00.000Z"]


def record(kind: str, person: str, day: int, fmt: int, n: int) -> Envelope:
    data = {"employee_id": person}
    if kind == EMPLOYEE_UPSERTED:
        data.update(display_name=f"{person}-{n}", email=f"{person.lower()}{n}@example.com", timezone="UTC",
                    title="ignored by this service")
    else:
        data["terminated_on"] = f"2026-01-0{day}"
    return Envelope(event_id=str(uuid.UUID(int=n)), event_type=kind, schema_version=1,
                    occurred_at=INSTANTS[fmt].format(d=day), producer="workday", aggregate_type="employee",
                    aggregate_id=person, aggregate_version=1, correlation_id="c", causation_id=None, data=data)


records = st.lists(
    st.tuples(st.sampled_from([EMPLOYEE_UPSERTED, EMPLOYEE_UPSERTED, EMPLOYEE_TERMINATED]),
              st.sampled_from(PEOPLE), st.integers(1, 4), st.integers(0, 1)),
    min_size=1, max_size=12,
).map(lambda specs: [record(kind, person, day, fmt, n) for n, (kind, person, day, fmt) in enumerate(specs, 1)])


def expected(person: str, envelopes: list[Envelope]) -> dict | None:
    """The oracle: the newest upsert's profile, the newest record's status."""
    mine = [e for e in envelopes if e.data["employee_id"] == person]
    if not mine:
        return None
    newest = max(mine, key=stamp)
    upserts = [e for e in mine if e.event_type == EMPLOYEE_UPSERTED]
    profile = max(upserts, key=stamp).data if upserts else {}
    return {"status": "terminated" if newest.event_type == EMPLOYEE_TERMINATED else "active",
            **{name: profile.get(name) for name in KEPT}}


def observed(doc: dict | None) -> dict | None:
    return None if doc is None else {"status": doc["status"], **{name: doc.get(name) for name in KEPT}}


@given(records, st.randoms(use_true_random=False), st.data())
@settings(max_examples=200, deadline=None)
def test_the_fold_in_any_order_with_duplicates_ends_in_the_newest_record(envelopes, rnd, data):
    shuffled = envelopes + data.draw(st.lists(st.sampled_from(envelopes), max_size=6))  # redeliveries
    rnd.shuffle(shuffled)
    for person in PEOPLE:
        mine = [e for e in shuffled if e.data["employee_id"] == person]
        doc, _ = fold(person, mine, KEPT)
        assert observed(doc if mine else None) == expected(person, envelopes)
        assert "title" not in doc  # only the fields the service keeps


@given(records, st.randoms(use_true_random=False), st.lists(st.integers(1, 5), max_size=8))
@settings(max_examples=150, deadline=None)
def test_the_projection_with_any_batching_ends_in_the_newest_record(envelopes, rnd, cuts):
    stream = envelopes + envelopes[: len(envelopes) // 2]  # a replay of the first half
    rnd.shuffle(stream)
    projection = DirectoryProjection(FakeDatabase(), name="test-directory", fields=KEPT)
    position = 0
    for cut in cuts + [len(stream)]:
        batch = stream[position:position + cut]
        if len(batch) == 1:
            projection.handlers()[batch[0].event_type](batch[0])
        elif batch:
            projection.apply_batch(batch)
        position += cut
        if position >= len(stream):
            break
    for person in PEOPLE:
        assert observed(projection.get(person)) == expected(person, envelopes)


def test_an_old_termination_replayed_after_a_rehire_changes_nothing():
    hired = record(EMPLOYEE_UPSERTED, "E1", 1, 0, 1)
    left = record(EMPLOYEE_TERMINATED, "E1", 2, 0, 2)
    rehired = record(EMPLOYEE_UPSERTED, "E1", 3, 0, 3)
    doc = empty("E1")
    assert apply_record(doc, hired, KEPT).changed
    first = apply_record(doc, left, KEPT)
    assert first.newly_terminated and doc["terminated_at"] == left.occurred_at
    assert apply_record(doc, rehired, KEPT).changed and doc["status"] == "active" and doc["terminated_at"] is None
    replay = apply_record(doc, left, KEPT)
    assert not replay.changed and not replay.newly_terminated and doc["status"] == "active"


def test_a_termination_is_newly_terminating_once():
    left = record(EMPLOYEE_TERMINATED, "E1", 2, 0, 2)
    later = record(EMPLOYEE_TERMINATED, "E1", 3, 0, 3)
    doc = empty("E1")
    assert apply_record(doc, left).newly_terminated
    assert not apply_record(doc, left).changed
    assert not apply_record(doc, later).newly_terminated  # already terminated: no second effect


def test_only_hris_profile_fields_can_be_kept():
    try:
        DirectoryProjection(FakeDatabase(), fields=("display_name", "salary"))
    except ValueError as error:
        assert "salary" in str(error)
    else:
        raise AssertionError("an unknown field was accepted")
