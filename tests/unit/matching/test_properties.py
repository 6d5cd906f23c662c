"""Hypothesis: the cohort status machine; the HRIS directory fold in any order ends in the newest record."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import Conflict
from shared.events.catalog.hris import EMPLOYEE_TERMINATED, EMPLOYEE_UPSERTED
from services.matching.application.projections import participants_projection
from services.matching.domain import cohort
from services.matching.domain.cohort import STATUSES, CohortState
from tests.unit.matching.conftest import hris
from tests.unit.matching.fakes import MemoryDatabase


def _created() -> CohortState:
    state = CohortState()
    for event in cohort.create_cohort(state, cohort_id="c1", program_exists=True, program_id="p1", name="C",
                                      starts_on=date(2026, 3, 1), ends_on=date(2026, 9, 1), meeting_cadence_days=14,
                                      answer_deadline_days=7, rules={}, created_by="a"):
        state.apply(event.event_type, event.data)
    return state


@given(st.lists(st.sampled_from(STATUSES), max_size=12))
def test_the_cohort_status_machine_only_moves_forward(requests):
    """Against a model: one step forward or straight to closed; closed is final; repeating is a no-op."""
    state = _created()
    model = "draft"
    for requested in requests:
        try:
            events = cohort.change_status(state, requested, "a")
        except Conflict:
            assert model == "closed" or (requested != "closed" and STATUSES.index(requested) != STATUSES.index(model) + 1)
            assert requested != model
            continue
        if requested == model:
            assert events == []
        else:
            assert model != "closed"
            assert requested == "closed" or STATUSES.index(requested) == STATUSES.index(model) + 1
            assert events[0].data["previous_status"] == model
            model = requested
        for event in events:
            state.apply(event.event_type, event.data)
        assert state.status == model
    assert STATUSES.index(state.status) >= 0


_moments = st.integers(min_value=1, max_value=28).map(lambda day: f"2026-02-{day:02d}T00:00:00Z")
_record = st.tuples(st.sampled_from([EMPLOYEE_UPSERTED, EMPLOYEE_TERMINATED]), _moments,
                    st.integers(min_value=1, max_value=9))


@settings(max_examples=60, deadline=None)
@given(st.lists(_record, min_size=1, max_size=8, unique_by=lambda r: r[1]), st.randoms(use_true_random=False),
       st.integers(min_value=0, max_value=3))
def test_the_hris_fold_in_any_order_ends_in_the_newest_record(records, rnd, repeats):
    envelopes = [hris(kind, "E1", moment, **({"level": level} if kind == EMPLOYEE_UPSERTED else {}))
                 for kind, moment, level in records]
    newest = max(envelopes, key=lambda e: e.occurred_at)
    newest_upsert = max((e for e in envelopes if e.event_type == EMPLOYEE_UPSERTED), key=lambda e: e.occurred_at,
                        default=None)
    shuffled = envelopes + [rnd.choice(envelopes) for _ in range(repeats)]  # redeliveries
    rnd.shuffle(shuffled)
    one_by_one = participants_projection(MemoryDatabase())
    for envelope in shuffled:
        one_by_one.apply(envelope)
    batched = participants_projection(MemoryDatabase())
    batched.apply_batch(shuffled)
    for projection in (one_by_one, batched):
        doc = projection.get("E1")
        assert doc["status"] == ("terminated" if newest.event_type == EMPLOYEE_TERMINATED else "active")
        assert doc.get("level") == (newest_upsert.data["level"] if newest_upsert else None)


@pytest.mark.parametrize("status", ["matching", "active"])
def test_matchable_statuses(status):
    assert status in cohort.MATCHABLE
