"""Issue 15 on the real servers: closing a cohort completes its active pairing through the worker's
run processor; the stats count it; the pair choose to stay in touch over HTTP."""
import pytest

from tests.helpers import wait_until
from tests.integration.matching.conftest import ADMIN_H, token
from tests.integration.matching.test_summaries import assert_summary_is_a_recount

pytestmark = pytest.mark.integration


def test_closing_completes_the_active_pair_and_both_may_choose_to_stay_in_touch(harness):
    cohort_id = harness.populated_cohort()
    client = harness.client
    manual = client.post(f"/v1/cohorts/{cohort_id}/pairings", json={"mentor_id": "M001", "mentee_id": "E002"},
                         headers=ADMIN_H)
    assert manual.status_code == 201, manual.json
    pairing_id, mentor = manual.json["pairing_id"], "M001"
    proposed = client.post(f"/v1/cohorts/{cohort_id}/pairings", json={"mentor_id": "M001", "mentee_id": "E003"},
                           headers=ADMIN_H)
    assert proposed.status_code == 201, proposed.json
    for party in ("E002", mentor):
        assert client.post(f"/v1/pairings/{pairing_id}/accept", json={}, headers=token(party)).status_code == 200
    early = client.post(f"/v1/pairings/{pairing_id}/stay-in-touch", json={"stay_in_touch": True}, headers=token("E002"))
    assert early.status_code == 409 and early.json["code"] == "not_completed"

    for step in ("active", "closed"):
        assert client.post(f"/v1/cohorts/{cohort_id}/status", json={"status": step}, headers=ADMIN_H).status_code == 200
    wait_until(lambda: client.get(f"/v1/pairings/{pairing_id}", headers=ADMIN_H).json["status"] == "completed",
               timeout_s=30, interval_s=0.05, message="the worker to complete the active pairing")
    shown = assert_summary_is_a_recount(harness, cohort_id)
    assert (shown["active"], shown["completed"], shown["proposed"]) == (0, 1, 1)  # a proposal stays a proposal
    listed = harness.pairings(cohort_id, status="completed")["items"]
    assert [p["pairing_id"] for p in listed] == [pairing_id]

    refused = client.post(f"/v1/pairings/{pairing_id}/stay-in-touch", json={"stay_in_touch": True}, headers=ADMIN_H)
    assert refused.status_code == 403
    first = client.post(f"/v1/pairings/{pairing_id}/stay-in-touch", json={"stay_in_touch": True}, headers=token("E002"))
    assert first.status_code == 200 and first.json["mentee_stays_in_touch"] is True
    assert first.json["staying_in_touch"] is False
    both = client.post(f"/v1/pairings/{pairing_id}/stay-in-touch", json={"stay_in_touch": True}, headers=token(mentor))
    assert both.status_code == 200 and both.json["staying_in_touch"] is True
    harness.settle()
    assert client.get(f"/v1/pairings/{pairing_id}", headers=token("E002")).json["staying_in_touch"] is True
