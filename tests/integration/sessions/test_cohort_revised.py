"""A programme manager shortens a cohort's meeting cadence (CohortRevised): the at-risk clock of
its pairings follows the new cadence; a revision that changes no cadence moves nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest

from shared.clock import ManualClock, rfc3339, utcnow
from services.sessions.api import create_app
from tests.integration.sessions._support import (
    Feed, RunningConsumer, activated_pairing, cohort_created, envelope, wait_for_pairing,
)
from tests.helpers import wait_until

pytestmark = pytest.mark.integration


def _revised(version, **changed):
    return envelope("CohortRevised", "cohort", "c1", version, {
        "cohort_id": "c1", "program_id": "prog-1", "changed": sorted(changed), "revised_by": "admin-1", **changed})


def test_a_shorter_cadence_puts_a_quiet_pairing_at_risk(make_settings):
    settings = make_settings("sessions")
    feed = Feed(settings)
    clock = ManualClock(utcnow())
    context = create_app(settings, clock=clock).extensions["sessions"]
    # activated 20 days ago, no meeting since: fine on a 30-day cadence, late on a 14-day one
    feed.matching(cohort_created("c1", cadence=30),
                  *activated_pairing("p1", activated_at=rfc3339(utcnow() - timedelta(days=20))))
    with RunningConsumer(settings):
        wait_for_pairing(context, "p1")
        assert context.risk.check_all(clock.now()) == {"c1": 0}

        feed.matching(_revised(2, name="Spring (renamed)"))
        wait_until(lambda: context.database["cohorts"].find_one({"_id": "c1"})["version"] == 2,
                   message="the rename applied")
        assert context.risk.check_all(clock.now()) == {"c1": 0}

        feed.matching(_revised(3, meeting_cadence_days=14))
        wait_until(lambda: context.database["cohorts"].find_one({"_id": "c1"})["meeting_cadence_days"] == 14,
                   message="the new cadence applied")
        assert context.risk.check_all(clock.now()) == {"c1": 1}
