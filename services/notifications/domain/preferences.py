"""A person's notification preferences and what they decide, as pure functions.

- Channels: `email` and `inapp` are on by default for every category; `chat` is on once the
  person has set a chat webhook URL. Each channel can be switched on or off per category.
  A cohort's chat channel is a recipient of its own whose preferences say `only_chat`.
- Unsubscribing (the link in every email) turns email off for every category at once.
- Daily digest: messages that are not urgent wait for the person's digest hour (local time)
  and go out together; urgent ones go immediately.
- Quiet hours (local time, e.g. 22:00-07:00): email and chat wait until the quiet hours end.
  The in-app inbox is silent by nature and always gets the message at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.notifications.domain.routing import is_urgent

CHANNELS = ("email", "chat", "inapp")
DEFAULT_DIGEST_HOUR = 8


@dataclass(frozen=True)
class Preferences:
    channels: dict = field(default_factory=dict)  # category -> {channel: bool}
    email_enabled: bool = True
    digest: bool = False
    digest_hour: int = DEFAULT_DIGEST_HOUR
    quiet_hours: tuple | None = None  # (start "HH:MM", end "HH:MM") in the person's zone
    chat_webhook_url: str | None = None
    language: str | None = None
    only_chat: bool = False  # a cohort's chat channel: no email, no inbox

    @classmethod
    def from_doc(cls, doc: dict | None) -> "Preferences":
        if not doc:
            return cls()
        quiet = doc.get("quiet_hours")
        return cls(
            channels=doc.get("channels") or {},
            email_enabled=doc.get("email_enabled", True),
            digest=bool(doc.get("digest", False)),
            digest_hour=int(doc.get("digest_hour", DEFAULT_DIGEST_HOUR)),
            quiet_hours=(quiet["start"], quiet["end"]) if quiet else None,
            chat_webhook_url=doc.get("chat_webhook_url"),
            language=doc.get("language"),
            only_chat=bool(doc.get("only_chat", False)),
        )


@dataclass(frozen=True)
class Decision:
    action: str  # "send" now, "defer" until not_before, "digest" at not_before
    not_before: datetime | None = None


def channel_enabled(prefs: Preferences, category: str, channel: str) -> bool:
    if prefs.only_chat and channel != "chat":
        return False
    if channel == "email" and not prefs.email_enabled:
        return False
    if channel == "chat" and not prefs.chat_webhook_url:
        return False
    return bool(prefs.channels.get(category, {}).get(channel, True))


def enabled_channels(prefs: Preferences, category: str) -> list[str]:
    return [channel for channel in CHANNELS if channel_enabled(prefs, category, channel)]


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_until(prefs: Preferences, now: datetime, tz_name: str | None) -> datetime | None:
    """When the quiet hours around `now` end (UTC), or None if `now` is not in quiet hours."""
    if not prefs.quiet_hours:
        return None
    tz = zone(tz_name)
    local = now.astimezone(tz)
    start, end = _hhmm(prefs.quiet_hours[0]), _hhmm(prefs.quiet_hours[1])
    if start == end:
        return None
    current = local.time().replace(second=0, microsecond=0)
    overnight = start > end
    inside = (current >= start or current < end) if overnight else (start <= current < end)
    if not inside:
        return None
    end_day = local.date()
    if overnight and current >= start:
        end_day = end_day + timedelta(days=1)
    ends = datetime.combine(end_day, end, tzinfo=tz)
    return ends.astimezone(timezone.utc)


def next_digest_at(prefs: Preferences, now: datetime, tz_name: str | None) -> datetime:
    """The next digest time strictly after `now`, at the person's digest hour in their zone."""
    tz = zone(tz_name)
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), time(prefs.digest_hour), tzinfo=tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), time(prefs.digest_hour), tzinfo=tz)
    return candidate.astimezone(timezone.utc)


def decide(prefs: Preferences, category: str, channel: str, now: datetime, tz_name: str | None) -> Decision:
    """When a message in `category` goes out on `channel` (the channel is assumed enabled)."""
    if channel == "inapp":
        return Decision("send")
    if prefs.digest and not is_urgent(category):
        return Decision("digest", next_digest_at(prefs, now, tz_name))
    until = quiet_until(prefs, now, tz_name)
    if until is not None:
        return Decision("defer", until)
    return Decision("send")
