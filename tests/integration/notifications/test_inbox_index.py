"""On the real servers: the inbox and its unread count come from the recipient's inbox index (one
`_id` read), kept by the store projector from `NotificationSent` (in-app) and `NotificationRead`.
Pages, counts and read marks as a person sees them; the same after every event is applied again
(a redelivery, a replay from position 1) and after a rebuild; a read mark stored by a request that
died before answering still counts."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from shared.aggregate import Causation, NewEvent
from shared.clock import ManualClock, utcnow
from shared.events.catalog.notifications import NOTIFICATION_READ, NOTIFICATION_SENT
from shared.generations import physical
from shared.http.auth import mint_token
from shared.projector import StoreProjector, rebuild_service
from services.notifications.api import create_app
from services.notifications.application.projections import InboxIndex
from tests.helpers import projecting

pytestmark = pytest.mark.integration


def token(settings, subject):
    return {"Authorization": f"Bearer {mint_token(settings.jwt_secret, subject, ['participant'])}"}


def deliver(context, notification_id: str, recipient_id: str, subject: str) -> None:
    """What a sender does for an in-app delivery: the inbox item, then the outcome event."""
    context.inbox.put(SimpleNamespace(notification_id=notification_id, recipient_id=recipient_id, category="kudos",
                                      subject=subject, text=f"{subject}!", link=None, extra=None))
    context.outcomes.append(notification_id, 0, [NewEvent(NOTIFICATION_SENT, {
        "notification_id": notification_id, "recipient_id": recipient_id, "channel": "inapp", "category": "kudos",
        "source_event_id": f"src-{notification_id}", "source_event_type": "KudosGiven"})],
        Causation(correlation_id=f"src-{notification_id}", causation_id=None))


@pytest.fixture
def inbox(make_settings):
    settings = make_settings("notifications", environment="development")
    app = create_app(settings)
    context = app.extensions["notifications"]
    context.ensure_indexes()
    for n in range(5):
        deliver(context, f"n-e1-{n}", "E1", f"for E1 #{n}")
    deliver(context, "n-e2-0", "E2", "for E2")
    return SimpleNamespace(settings=settings, context=context, client=app.test_client())


def get(inbox, subject="E1", **query):
    answer = inbox.client.get("/v1/me/notifications", query_string=query, headers=token(inbox.settings, subject))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def walk(inbox, subject="E1", **query) -> list[dict]:
    """Every item, page by page."""
    items, cursor = [], None
    while True:
        page = get(inbox, subject, **query, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            return items


def test_pages_unread_count_and_marking_read(inbox):
    with projecting(inbox.context):
        first = get(inbox, limit=2)
        assert first["unread_count"] == 5 and len(first["items"]) == 2 and first["next"]
        items = walk(inbox, limit=2)
        assert [i["notification_id"] for i in items] == [f"n-e1-{n}" for n in (4, 3, 2, 1, 0)]  # newest first
        assert items[0]["subject"] == "for E1 #4" and items[0]["body"] == "for E1 #4!" and not items[0]["read"]
        assert get(inbox, "E2")["unread_count"] == 1

        for notification_id in ("n-e1-3", "n-e1-0"):
            marked = inbox.client.post(f"/v1/me/notifications/{notification_id}/read",
                                       headers=token(inbox.settings, "E1"))
            assert marked.status_code == 200 and marked.get_json()["read"] is True
        assert get(inbox)["unread_count"] == 3  # right after the answer: the request waited for the index
        unread = walk(inbox, limit=2, unread="true")
        assert [i["notification_id"] for i in unread] == ["n-e1-4", "n-e1-2", "n-e1-1"]
        everything = {i["notification_id"]: i for i in walk(inbox, limit=3)}
        assert everything["n-e1-3"]["read"] and everything["n-e1-3"]["read_at"] and not everything["n-e1-4"]["read"]
        # marking again changes nothing; someone else's notification is not found
        again = inbox.client.post("/v1/me/notifications/n-e1-3/read", headers=token(inbox.settings, "E1"))
        assert again.status_code == 200 and again.get_json()["read"] is True
        assert inbox.context.outcomes.load("n-e1-3").version == 2
        assert inbox.client.post("/v1/me/notifications/n-e2-0/read",
                                 headers=token(inbox.settings, "E1")).status_code == 404
        assert get(inbox)["unread_count"] == 3 and get(inbox, "E2")["unread_count"] == 1

        # a later notification comes first, unread
        deliver(inbox.context, "n-e1-5", "E1", "for E1 #5")
        assert inbox.context.projector.wait_for(inbox.context.store.current_position(), timeout_s=30)
        latest = get(inbox, limit=1, unread="true")
        assert latest["items"][0]["notification_id"] == "n-e1-5" and latest["unread_count"] == 4

    # past the inbox's retention, items are neither listed nor counted (their documents are deleted)
    inbox.context.clock = ManualClock(utcnow() + timedelta(days=inbox.settings.retention_inbox_days + 1))
    assert get(inbox) == {"items": [], "next": None, "unread_count": 0}


def test_redelivery_replay_rebuild_and_a_read_mark_whose_request_died(inbox):
    context = inbox.context
    context.projector.catch_up()
    # the request appended NotificationRead and died before marking the inbox document
    context.outcomes.append("n-e1-1", 1, [NewEvent(NOTIFICATION_READ, {"notification_id": "n-e1-1",
                                                                       "recipient_id": "E1"})],
                            Causation(correlation_id="req-1", causation_id=None))
    context.projector.catch_up()
    assert context.inbox.get("n-e1-1").get("read_at") is None
    shown = walk(inbox, limit=2)
    assert get(inbox)["unread_count"] == 4 and [i["notification_id"] for i in shown if i["read"]] == ["n-e1-1"]
    index = context.inbox_index.get("E1")

    # every event applied again from position 1 (a redelivery is one of them)
    replay = StoreProjector(context, [InboxIndex(context.database, retention_days=180)], name="inbox-replay")
    assert replay.catch_up() >= 7
    assert context.inbox_index.get("E1") == index and walk(inbox, limit=2) == shown

    # a rebuild (what the fault suite compares with the live view) gives the same documents
    live = sorted(context.database["inbox_index"].find({}), key=lambda d: d["_id"])
    report = rebuild_service(context, None, grace_s=0)
    assert "inbox_index" in report.collections
    assert sorted(context.database[physical("inbox_index", report.generation)].find({}),
                  key=lambda d: d["_id"]) == live
    assert walk(inbox, limit=2) == shown

    # the person marks it read again (a retry): answered, nothing appended twice
    with projecting(context):
        retried = inbox.client.post("/v1/me/notifications/n-e1-1/read", headers=token(inbox.settings, "E1"))
        assert retried.status_code == 200 and retried.get_json()["read"] is True
    assert context.outcomes.load("n-e1-1").version == 2 and get(inbox)["unread_count"] == 4
