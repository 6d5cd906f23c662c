"""The inbox page and its unread count come from the recipient's inbox index: the count covers
every unread notification (not only the page's), pages follow the cursor, items past the inbox's
retention are neither listed nor counted, and the only inbox reads are the page's items by id."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from shared.clock import ManualClock
from services.notifications.application.commands import inbox_page

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


class _Inbox:
    """Inbox documents by id; anything else (a query over the inbox) would fail here."""

    def __init__(self, ids):
        self.docs = {i: {"_id": i, "subject": f"about {i}", "read_at": None} for i in ids}
        self.read = []

    def get(self, notification_id):
        self.read.append(notification_id)
        return self.docs.get(notification_id)


def _context(items, *, gone=()):
    inbox = _Inbox([item["id"] for item in items if item["id"] not in gone])
    index = SimpleNamespace(get=lambda recipient_id: {"_id": recipient_id, "items": items} if items else None)
    return SimpleNamespace(inbox=inbox, inbox_index=index, clock=ManualClock(NOW),
                           settings=SimpleNamespace(retention_inbox_days=180)), inbox


def _items(count: int, *, read=()):
    """Newest first, as the index keeps them."""
    return [{"id": f"n{i}", "at": NOW - timedelta(hours=i), "read_at": NOW if f"n{i}" in read else None}
            for i in range(count)]


def test_the_unread_count_covers_more_than_the_page_and_only_the_page_is_read():
    context, inbox = _context(_items(9, read={"n1"}))
    page = inbox_page(context, "E1", limit=5, cursor=None, unread_only=True)
    assert page["unread_count"] == 8 and [d["_id"] for d in page["docs"]] == ["n0", "n2", "n3", "n4", "n5"]
    assert page["next"] and inbox.read == ["n0", "n2", "n3", "n4", "n5"]
    rest = inbox_page(context, "E1", limit=5, cursor=page["next"], unread_only=True)
    assert [d["_id"] for d in rest["docs"]] == ["n6", "n7", "n8"] and rest["next"] is None


def test_all_notifications_show_their_read_state_from_the_index():
    context, _ = _context(_items(3, read={"n1"}))
    page = inbox_page(context, "E1", limit=5, cursor=None, unread_only=False)
    assert page["unread_count"] == 2 and [d["read_at"] for d in page["docs"]] == [None, NOW, None]


def test_nothing_past_retention_and_no_inbox_at_all():
    items = _items(2) + [{"id": "old", "at": NOW - timedelta(days=181), "read_at": None}]
    context, _ = _context(items, gone={"n1"})  # n1's document deleted a moment ago
    page = inbox_page(context, "E1", limit=5, cursor=None, unread_only=False)
    assert [d["_id"] for d in page["docs"]] == ["n0"] and page["unread_count"] == 2
    empty, inbox = _context([])
    assert inbox_page(empty, "E9", limit=5, cursor=None, unread_only=True) == {"docs": [], "next": None,
                                                                              "unread_count": 0}
