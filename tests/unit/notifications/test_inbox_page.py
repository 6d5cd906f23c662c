"""The inbox page's unread count: right whether or not the page holds every unread notification,
and without a second pass over the inbox when it does (the portal's home asks for that page)."""
from __future__ import annotations

from types import SimpleNamespace

from services.notifications.application.commands import inbox_page


class _Inbox:
    def __init__(self, unread: int):
        self.unread, self.counted = unread, 0

    def page(self, recipient_id, *, limit, cursor, unread_only):
        docs = [{"_id": f"n{i}"} for i in range(min(limit, self.unread))]
        return docs, ("more" if self.unread > limit else None)

    def unread_count(self, recipient_id):
        self.counted += 1
        return self.unread


def _page(unread: int, limit: int, *, unread_only: bool = True):
    inbox = _Inbox(unread)
    return inbox_page(SimpleNamespace(inbox=inbox), "E1", limit=limit, cursor=None, unread_only=unread_only), inbox


def test_every_unread_notification_on_the_page_is_counted_without_another_query():
    page, inbox = _page(unread=2, limit=5)
    assert page["unread_count"] == 2 and len(page["docs"]) == 2 and inbox.counted == 0


def test_more_unread_than_the_page_holds_are_counted_in_the_inbox():
    page, inbox = _page(unread=9, limit=5)
    assert page["unread_count"] == 9 and len(page["docs"]) == 5 and page["next"] and inbox.counted == 1


def test_a_page_of_all_notifications_counts_the_unread_ones_in_the_inbox():
    page, inbox = _page(unread=2, limit=5, unread_only=False)
    assert page["unread_count"] == 2 and inbox.counted == 1
