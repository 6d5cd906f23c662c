"""What scheduling a meeting asks of MongoDB (issue 16, the HTTP target): counted with a command
listener, which a loaded machine cannot blur. A schedule reads its new stream once and stores it,
without reading it back; the store projector every request waits for applies a run of new
meetings with one write per document the run touches, and polls an idle store with one read.
And under concurrent requests each caller still finds its meeting in the next list."""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from pymongo import MongoClient, monitoring

from shared.aggregate import Causation
from shared.clock import SystemClock, utcnow
from shared.eventstore import EventStore
from services.sessions.api import create_app
from services.sessions.bootstrap import SessionsContext
from services.sessions.domain.pairing import PairingInfo
from tests.helpers import start_projector
from tests.integration.sessions._support import (
    Feed, RunningConsumer, activated_pairing, cohort_created, headers, wait_for_pairing,
)

pytestmark = pytest.mark.integration


class Commands(monitoring.CommandListener):
    def __init__(self):
        self.seen: Counter = Counter()
        self.on = False

    def started(self, event):
        if self.on and event.command_name not in ("hello", "isMaster", "ping", "endSessions"):
            target = event.command.get(event.command_name)
            self.seen[(event.command_name, target.split("__g")[0] if isinstance(target, str) else "")] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def count(self, name: str | None = None, collection: str | None = None) -> int:
        return sum(n for (command, target), n in self.seen.items()
                   if (name is None or command == name) and (collection is None or target == collection))


@pytest.fixture
def counted(make_settings):
    settings = make_settings("sessions")
    commands = Commands()
    client = MongoClient(settings.mongo_url, tz_aware=True, event_listeners=[commands])
    database = client[settings.database]
    context = SessionsContext(settings=settings, database=database, store=EventStore(database), clock=SystemClock())
    context.ensure_indexes()
    yield context, commands
    client.close()


def _schedule(context, pairing: PairingInfo, days: int):
    cause = Causation(correlation_id=str(uuid.uuid4()), causation_id=str(uuid.uuid4()), actor_id=pairing.mentor_id)
    return context.meetings.schedule(pairing, actor_id=pairing.mentor_id, organizer_id=pairing.mentor_id,
                                     starts_at=utcnow() + timedelta(days=days), duration_minutes=30, timezone="UTC",
                                     agenda="Plans", causation=cause)


def test_a_schedule_reads_its_new_stream_once_and_never_reads_it_back(counted):
    context, commands = counted
    pairing = PairingInfo("p1", "c1", "mentor-1", "mentee-1", "active", activated_at=utcnow())
    _schedule(context, pairing, 3)  # the first append of a process finds where the store ends
    commands.on = True
    outcome = _schedule(context, pairing, 4)
    assert outcome.position > 0 and outcome.meeting.version == 1 and outcome.texts == {"agenda": "Plans"}
    # one look-up (is there a stream already: a retried request?), never the stored meeting read back
    assert commands.count("find", "event_commits") == 1
    assert commands.count("insert") == 1  # the commit and its stream's pointer, in one ordered insert


def test_the_projector_writes_a_run_of_new_meetings_once_per_document_and_polls_idle_with_one_read(counted):
    context, commands = counted
    projector = context.projector
    pairings = [PairingInfo(f"p{i}", "c1", f"mentor-{i}", f"mentee-{i}", "active", activated_at=utcnow())
                for i in range(2)]
    for i in range(8):  # eight requests at once, two pairings, one week
        _schedule(context, pairings[i % 2], 7)
    commands.on = True
    projector.catch_up()
    assert commands.count("insert", "meetings") == 1 and commands.count("insert", "busy_placements") == 1
    assert commands.count(collection="pairing_meetings") == 2 * 2  # a read and a write per pairing
    assert commands.count(collection="busy_weeks") == 4 * 2  # a read and a write per person's week
    assert len(context.meetings_view.for_pairing("p0")) == 4

    assert projector.catch_up() == 0  # right after a run it looks as far ahead as the run was long
    commands.seen.clear()
    assert projector.catch_up() == 0
    assert commands.count("find", "event_commits") == 1  # idle: the next position only, not a window of them

    _schedule(context, pairings[0], 8)  # one request alone: a run of one, written the same way
    commands.seen.clear()
    assert projector.catch_up() > 0
    assert commands.count("find", "meetings") == 0 and commands.count("find", "busy_placements") == 0
    assert commands.count("insert", "meetings") == 1 and commands.count(collection="busy_weeks") == 2 * 2


def test_concurrent_schedules_each_find_their_meeting_in_the_next_list(make_settings, request):
    settings = make_settings("sessions")
    feed = Feed(settings)
    feed.matching(cohort_created("c1"), *activated_pairing("p1"))
    app = create_app(settings)
    context = app.extensions["sessions"]
    with RunningConsumer(settings):
        wait_for_pairing(context, "p1", "active")
    request.addfinalizer(start_projector(context))
    mentor = headers(settings, "mentor-1")
    starts = utcnow().replace(microsecond=0) + timedelta(days=3)
    missing: list[str] = []

    def schedule_then_list(i: int) -> None:
        client = app.test_client()
        for round_ in range(3):
            body = {"starts_at": (starts + timedelta(hours=i * 3 + round_)).isoformat(), "duration_minutes": 30}
            created = client.post("/v1/pairings/p1/meetings", json=body, headers=mentor)
            assert created.status_code == 201, created.get_json()
            listed = client.get("/v1/pairings/p1/meetings?limit=100", headers=mentor).get_json()["items"]
            if created.get_json()["meeting_id"] not in {m["meeting_id"] for m in listed}:
                missing.append(created.get_json()["meeting_id"])

    threads = [threading.Thread(target=schedule_then_list, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert missing == []
    assert len(client_list := app.test_client().get("/v1/pairings/p1/meetings?limit=100", headers=mentor)
               .get_json()["items"]) == 24 and len({m["meeting_id"] for m in client_list}) == 24
