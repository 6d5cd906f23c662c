"""Weekly availability and common slots (issue 15) over HTTP, the sessions API on a loopback
server against the real MongoDB: two people in different zones set their weeks, the slots come
back in both zones, and a meeting either of them schedules (in this pairing or another) takes
its slot away."""
from __future__ import annotations

import statistics
import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from werkzeug.serving import make_server

from shared.clock import rfc3339, utcnow
from shared.events.envelope import Envelope
from services.sessions.api import create_app
from tests.helpers import hris_upsert, start_projector
from tests.integration.sessions._support import activated_pairing, cohort_created, headers

pytestmark = pytest.mark.integration

MENTOR, MENTEE, OTHER_MENTOR = "mentor-1", "mentee-1", "mentor-2"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def _seed(context) -> None:
    """The HRIS records and two active pairings of the mentee, as the worker's consumer applies them."""
    projections = context.projections()
    for who, zone in ((MENTOR, "Europe/Berlin"), (MENTEE, "America/New_York"), (OTHER_MENTOR, "UTC")):
        envelope = Envelope.from_hris(hris_upsert(who, occurred_at=rfc3339(utcnow()), timezone=zone,
                                                  email=f"{who}@example.com"))
        projections[0].handlers()[envelope.event_type](envelope)
    pairings = projections[1].handlers()
    for raw in [cohort_created("c1"), *activated_pairing("p1", "c1", MENTOR, MENTEE),
                *activated_pairing("p2", "c1", OTHER_MENTOR, MENTEE)]:
        envelope = Envelope.from_dict(raw)
        pairings[envelope.event_type](envelope)


def test_two_people_set_their_weeks_and_a_scheduled_slot_disappears(make_settings, request):
    settings = make_settings("sessions")
    app = create_app(settings)
    context = app.extensions["sessions"]
    _seed(context)
    request.addfinalizer(start_projector(context))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    request.addfinalizer(server.shutdown)
    base = f"http://127.0.0.1:{server.server_port}/v1"
    http = requests.Session()
    mentor, mentee = headers(settings, MENTOR), headers(settings, MENTEE)

    # each in their own (HRIS) zone: Berlin afternoons, New York mornings
    for who, start, end in ((mentor, "15:00", "18:00"), (mentee, "09:00", "12:00")):
        week = [{"day": day, "start": start, "end": end} for day in WEEKDAYS]
        answer = http.put(f"{base}/me/availability", json={"weekly": week}, headers=who, timeout=30)
        assert answer.status_code == 200, answer.text
    mine = http.get(f"{base}/me/availability", headers=mentee, timeout=30).json()
    assert (mine["time_zone"], mine["time_zone_source"], len(mine["weekly"])) == ("America/New_York", "hris", 5)

    first = (utcnow() + timedelta(days=1)).date()
    query = {"from": first.isoformat(), "to": (first + timedelta(days=6)).isoformat(), "duration_minutes": 60}
    slots_url = f"{base}/pairings/p1/slots"
    found = http.get(slots_url, params=query, headers=mentor, timeout=30)
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    assert len(items) >= 5  # two or three hours on each of five weekdays, as the zones' offsets fall
    for slot in items:
        mentor_local = datetime.fromisoformat(slot["local"][MENTOR]["starts_at"])
        mentee_local = datetime.fromisoformat(slot["local"][MENTEE]["starts_at"])
        assert 15 <= mentor_local.hour < 18 and 9 <= mentee_local.hour < 12, slot
        assert mentor_local.utcoffset() == ZoneInfo("Europe/Berlin").utcoffset(mentor_local.replace(tzinfo=None))
        assert mentee_local == mentor_local  # one instant, two clocks

    # the mentee books the first slot with their other mentor, and the second one with this mentor
    taken = [items[0]["starts_at"], items[1]["starts_at"]]
    for pairing_id, who, starts_at in (("p2", mentee, taken[0]), ("p1", mentor, taken[1])):
        booked = http.post(f"{base}/pairings/{pairing_id}/meetings", headers=who, timeout=30,
                           json={"starts_at": starts_at, "duration_minutes": 60})
        assert booked.status_code == 201, booked.text
    context.projector.wait_for(context.store.current_position(), timeout_s=30)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        again = http.get(slots_url, params=query, headers=mentee, timeout=30)
        timings.append(time.perf_counter() - started)
    left = [slot["starts_at"] for slot in again.json()["items"]]
    assert taken[0] not in left and taken[1] not in left and left[0] == items[2]["starts_at"]
    print(f"slots over HTTP, two people, 7 days: median {statistics.median(timings) * 1000:.0f} ms")

    # cancelling gives the slot back
    meeting = http.get(f"{base}/pairings/p1/meetings", headers=mentor, timeout=30).json()["items"][0]
    assert http.post(f"{base}/meetings/{meeting['meeting_id']}/cancel", json={"reason": "conflict"}, headers=mentor,
                     timeout=30).status_code == 200
    context.projector.wait_for(context.store.current_position(), timeout_s=30)
    assert taken[1] in [s["starts_at"] for s in http.get(slots_url, params=query, headers=mentee,
                                                        timeout=30).json()["items"]]

    # bad input names its field; someone outside the pair is refused
    for params, field in ((dict(query, to=(first - timedelta(days=1)).isoformat()), "to"),
                          (dict(query, to=(first + timedelta(days=40)).isoformat()), "to"),
                          (dict(query, duration_minutes=5), "duration_minutes")):
        refused = http.get(slots_url, params=params, headers=mentor, timeout=30)
        assert refused.status_code == 422 and field in refused.json()["errors"], refused.text
    for body, field in (({"weekly": [], "time_zone": "Mars/Olympus"}, "time_zone"),
                        ({"weekly": [{"day": "mon", "start": "09:00", "end": "12:00"},
                                     {"day": "mon", "start": "11:00", "end": "13:00"}]}, "weekly.1.start"),
                        ({"weekly": [{"day": "mon", "start": "12:00", "end": "09:00"}]}, "weekly.0.end")):
        refused = http.put(f"{base}/me/availability", json=body, headers=mentee, timeout=30)
        assert refused.status_code == 422 and field in refused.json()["errors"], refused.text
    assert http.get(slots_url, params=query, headers=headers(settings, OTHER_MENTOR), timeout=30).status_code == 403
