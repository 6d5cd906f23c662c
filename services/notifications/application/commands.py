"""What callers of the API can do: preferences, a cohort's chat channel, reading the inbox, unsubscribing.

These are the service's own settings (not derived from events), written directly; the refusals
are `shared.errors`, which the HTTP layer turns into problem documents.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from shared.aggregate import Causation, NewEvent

from shared.errors import DomainError, Invalid, NotFound
from shared.events.catalog.notifications import NOTIFICATION_READ, NOTIFICATION_SENT
from shared.eventstore import ConcurrencyError
from services.notifications.adapters.mongo import decode_cursor, encode_cursor
from services.notifications.adapters.webhooks import UnsafeWebhook
from services.notifications.application.links import LinkRefused, verify_unsubscribe_token
from services.notifications.domain.routing import cohort_recipient


class InvalidLink(DomainError):
    """A link that was not made by this service (forged or mangled): 400, not a validation error."""


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def check_cursor(cursor: str | None) -> None:
    if cursor:
        try:
            decode_cursor(cursor)
        except (ValueError, TypeError):
            raise Invalid("invalid_cursor", "Not a cursor this API returned.", field="cursor") from None


def inbox_page(context, recipient_id: str, *, limit: int, cursor: str | None, unread_only: bool) -> dict:
    """A page of the caller's inbox and their unread count, from their inbox index (one `_id` read)
    and the page's notifications (one `_id` read each): no query over everyone's inbox."""
    check_cursor(cursor)
    index = context.inbox_index.get(recipient_id) or {"items": []}
    cutoff = context.clock.now() - timedelta(days=context.settings.retention_inbox_days)
    items = [item for item in index["items"] if _aware(item["at"]) >= cutoff]  # older ones are deleted
    unread = sum(1 for item in items if item["read_at"] is None)
    if unread_only:
        items = [item for item in items if item["read_at"] is None]
    if cursor:
        at, last_id = decode_cursor(cursor)
        items = [item for item in items if (_aware(item["at"]), item["id"]) < (_aware(at), last_id)]
    page, more = items[:limit], len(items) > limit
    docs = []
    for item in page:
        doc = context.inbox.get(item["id"])
        if doc is not None:  # retention may have deleted it a moment ago
            docs.append({**doc, "read_at": item["read_at"]})
    return {"docs": docs, "next": encode_cursor(page[-1]["at"], page[-1]["id"]) if more and page else None,
            "unread_count": unread}


def mark_read(context, recipient_id: str, notification_id: str, at: datetime, causation: Causation) -> dict:
    """Mark one of the caller's notifications read: `NotificationRead` on its stream (after its
    `NotificationSent`), which the inbox index follows; answered once the index has it."""
    doc = context.inbox.get(notification_id)
    if doc is None or doc.get("recipient_id") != recipient_id:
        raise NotFound("notification_not_found", "no such notification in your inbox")
    loaded = context.outcomes.load(notification_id)
    types = [event.event_type for event in loaded.events]
    if NOTIFICATION_SENT not in types:  # not delivered to the inbox yet: not listed either
        raise NotFound("notification_not_found", "no such notification in your inbox")
    if NOTIFICATION_READ not in types:
        try:
            appended = context.outcomes.append(
                notification_id, loaded.version,
                [NewEvent(NOTIFICATION_READ, {"notification_id": notification_id, "recipient_id": recipient_id})],
                causation)
            context.projector.wait_for(appended.position)
        except ConcurrencyError:  # marked read by a request a moment ago: answer once the index has it
            context.projector.wait_for(context.store.current_position())
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
