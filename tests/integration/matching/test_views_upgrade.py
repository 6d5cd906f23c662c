"""An upgrade that adds a read model: `migrate` rebuilds the views from the history by itself."""
from __future__ import annotations

import pytest

from shared import views_manifest
from shared.cli import upgrade_views
from shared.generations import Generations
from services.matching.adapters.mongo import PARTY_PAIRINGS
from services.matching.application.projections import MatchingViews
from tests.helpers import wait_until
from tests.integration.matching.conftest import token

pytestmark = pytest.mark.integration


def test_migrate_rebuilds_views_the_running_code_has_and_the_database_lacks(harness, monkeypatch):
    cohort_id = harness.populated_cohort()
    harness.run(cohort_id)
    harness.settle()
    database = harness.context.database
    mentee = next(item["mentee_id"] for item in harness.pairings(cohort_id)["items"])

    # A deployment older than the per-person pairings list: positions and views, no such list, and
    # no record of which code built its views.
    database[PARTY_PAIRINGS].delete_many({})
    assert harness.client.get("/v1/me/pairings", headers=token(mentee)).json["items"] == []

    upgrade_views("matching", harness.context)
    generations = Generations(database)
    assert generations.current(fresh=True) == 1
    # readers follow the swap to the new generation within a second (shared.generations.live_database)
    wait_until(lambda: [item["mentee_id"] for item in harness.client.get(
        "/v1/me/pairings", headers=token(mentee)).json["items"]] == [mentee], timeout_s=10,
        message="the participant's pairing listed from the rebuilt views")

    upgrade_views("matching", harness.context)  # the same code again: nothing to do
    assert generations.current(fresh=True) == 1

    released = MatchingViews.version + 1
    monkeypatch.setattr(MatchingViews, "version", released)  # a release changed what the views hold
    upgrade_views("matching", harness.context)
    assert generations.current(fresh=True) == 2
    assert views_manifest.recorded(database, 2)["matching-views"]["version"] == released


def test_a_fresh_database_is_only_recorded_not_rebuilt(make_settings):
    from services.matching.bootstrap import build

    context = build(make_settings("matching"))
    context.ensure_indexes()
    upgrade_views("matching", context)
    assert Generations(context.database).current(fresh=True) == 0
    assert views_manifest.recorded(context.database, 0)["matching-views"]["collections"]
