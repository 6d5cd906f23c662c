"""Matching runs with two worker replicas on real MongoDB: each run is computed once, each pairing made once."""
from __future__ import annotations

from collections import Counter

import pytest

from shared.events.catalog import matching as ev
from services.matching import bootstrap
from tests.integration.matching.conftest import ADMIN_H, OwnStoreWorker

pytestmark = pytest.mark.integration


def test_two_worker_replicas_run_each_run_once_and_never_pair_a_mentee_twice(harness):
    second = OwnStoreWorker(bootstrap.build(harness.settings, clock=harness.clock))
    second.threads = second.threads[1:]  # its run processor only: one views projector is enough here
    second.start()
    try:
        for index in range(8):
            harness.hire(f"M1{index:02d}", level=8)
        mentees = [f"E1{index:02d}" for index in range(20)]
        for mentee in mentees:
            harness.hire(mentee, level=3)
        cohort_id = harness.cohort()
        for index in range(8):
            assert harness.enroll(cohort_id, f"M1{index:02d}", "mentor", capacity=2).status_code == 201
        for mentee in mentees:
            assert harness.enroll(cohort_id, mentee, "mentee").status_code == 201
        started = [harness.start_run(cohort_id).json["run_id"] for _ in range(3)]  # back to back
        results = [harness.poll(run_id) for run_id in started]
    finally:
        second.close()
    assert [r["status"] for r in results] == ["completed"] * 3
    assert sum(r["matched"] for r in results) == 16  # 8 mentors x 2 seats, whoever ran which run
    for run_id in started:
        types = [e.event_type for e in harness.context.store.load(run_id).events]
        assert types.count(ev.MATCHING_RUN_COMPLETED) == 1 and types.count(ev.MATCHING_RUN_PROPOSALS_CREATED) == 1
    items = harness.pairings(cohort_id, limit=500)["items"]
    assert len(items) == 16
    assert max(Counter(p["mentee_id"] for p in items).values()) == 1
    assert max(Counter(p["mentor_id"] for p in items).values()) == 2
    for pairing in items:
        assert [e.event_type for e in harness.context.store.load(pairing["pairing_id"]).events] == [
            ev.PAIRING_PROPOSED]
    assert harness.client.get(f"/v1/cohorts/{cohort_id}/stats", headers=ADMIN_H).json["unmatched"] == 4
