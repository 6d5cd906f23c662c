"""`make simulate` in miniature: a small organisation's first weeks driven through every service's
public API end with every projection equal to a rebuild, no server error, and the year's things
done (pairings formed, meetings held and rated, an HRIS change applied). The full run's figures are
docs/capacity.md's; this only keeps the simulator working (the suite's time: keep it tiny)."""
from __future__ import annotations

import pytest

from scripts.simulate import Options, simulate

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(600)  # eight processes on a loaded 2-core machine take a minute to start
def test_a_small_organisations_weeks_end_equal_to_a_rebuild(tmp_path):
    report = simulate(Options(employees=150, weeks=2, cadence_weeks=1, programmes=1, cohorts=1, enrol_share=0.1,
                              attrition=0.5, rehire_share=0.0, threads=4, report=str(tmp_path / "report.json"),
                              data=str(tmp_path)))

    assert [c["service"] for c in report["rebuild"] if not c["equal"]] == [], report["rebuild"]
    assert report["totals"]["server_errors"] == 0, report["routes"]
    assert report["passed"]
    routes = {r["route"]: r for r in report["routes"]}
    assert routes["POST matching /v1/cohorts/{id}/enrollments (bulk)"]["statuses"] == {"200": 1}
    assert report["totals"]["pairings"] >= 2
    held = routes["POST sessions /v1/meetings/{id}/complete"]["statuses"].get("200", 0)
    assert held >= report["totals"]["pairings"] - report["totals"]["terminations"] * 2
    assert routes["POST feedback /v1/pairings/{id}/feedback"]["statuses"].get("201", 0) >= 1
    assert report["totals"]["terminations"] >= 1  # the HRIS's changes reached the services as well
    assert all(r["p50_ms"] is not None and r["p99_ms"] >= r["p50_ms"] for r in report["routes"])
    assert set(report["lag"]) == {"matching", "sessions", "feedback", "notifications"}
