"""What callers of the API can do: preferences, a cohort's chat channel, reading the inbox, unsubscribing.

These are the service's own settings (not derived from events), written directly; the refusals
are `shared.errors`, which the HTTP layer turns into problem documents.
"""
from __future__ import annotations

from datetime import datetime

from shared.errors import DomainError, Invalid, NotFound
from services.notifications.adapters.mongo import decode_cursor
from services.notifications.adapters.webhooks import UnsafeWebhook
from services.notifications.application.links import LinkRefused, verify_unsubscribe_token
from services.notifications.domain.routing import cohort_recipient


class InvalidLink(DomainError):
    """A link that was not made by this service (forged or mangled): 400, not a validation error."""


def check_cursor(cursor: str | None) -> None:
    if cursor:
        try:
            decode_cursor(cursor)
        except (ValueError, TypeError):
            raise Invalid("invalid_cursor", "Not a cursor this API returned.", field="cursor") from None


def inbox_page(context, recipient_id: str, *, limit: int, cursor: str | None, unread_only: bool) -> dict:
    check_cursor(cursor)
    docs, next_cursor = context.inbox.page(recipient_id, limit=limit, cursor=cursor, unread_only=unread_only)
    if unread_only and cursor is None and next_cursor is None:
        # Every unread notification is on this page (the portal's home asks for exactly this):
        # their number is known without a second pass over the inbox, which on FerretDB is a
        # scan of the whole collection (recipient_id is no `_id` filter).
        unread = len(docs)
    else:
        unread = context.inbox.unread_count(recipient_id)
    return {"docs": docs, "next": next_cursor, "unread_count": unread}


def mark_read(context, recipient_id: str, notification_id: str, at: datetime) -> dict:
    doc = context.inbox.get(notification_id)
    if doc is None or doc.get("recipient_id") != recipient_id:
        raise NotFound("notification_not_found", "no such notification in your inbox")
    return context.inbox.mark_read(notification_id, at)


def check_webhook(context, url: str | None) -> None:
    """Where a chat webhook may point (adapters/webhooks.py); checked again before every send."""
    if url is None:
        return
    try:
        context.webhooks.check(url)
    except UnsafeWebhook as exc:
        raise Invalid(exc.code, exc.message, field="chat_webhook_url") from None


def put_preferences(context, employee_id: str, preferences: dict) -> dict:
    check_webhook(context, preferences.get("chat_webhook_url"))
    context.preferences.put(employee_id, preferences)
    return preferences


def put_cohort_channel(context, cohort_id: str, chat_webhook_url: str | None) -> dict:
    check_webhook(context, chat_webhook_url)
    context.preferences.put(cohort_recipient(cohort_id), {"only_chat": True, "chat_webhook_url": chat_webhook_url})
    return {"chat_webhook_url": chat_webhook_url}


def cohort_channel(context, cohort_id: str) -> dict:
    doc = context.preferences.get(cohort_recipient(cohort_id)) or {}
    return {"chat_webhook_url": doc.get("chat_webhook_url")}


_REFUSED_LINKS = {
    "expired": ("expired_unsubscribe_link", "this unsubscribe link has expired; use the one in a newer email "
                                            "or turn email off in your preferences"),
    "forged": ("invalid_unsubscribe_link", "this unsubscribe link is not valid"),
    "malformed": ("invalid_unsubscribe_link", "this unsubscribe link is not valid"),
}


def unsubscribe_target(context, token: str) -> str:
    """Whose link this is (nothing changes); `InvalidLink` (400) for a mangled, forged or expired one."""
    try:
        return verify_unsubscribe_token(context.config.link_secret, token, context.clock.now())
    except LinkRefused as exc:
        code, message = _REFUSED_LINKS[exc.code]
        raise InvalidLink(code, message) from None


def unsubscribe(context, token: str) -> dict:
    employee_id = unsubscribe_target(context, token)
    context.preferences.set_fields(employee_id, {"email_enabled": False})
    return {"employee_id": employee_id, "email_enabled": False}
