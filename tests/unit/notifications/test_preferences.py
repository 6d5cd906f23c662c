"""Preference logic: channels per category, unsubscribe, digest, quiet hours in the person's zone."""
from __future__ import annotations

from datetime import datetime, timezone

from services.notifications.domain.preferences import Preferences, decide, enabled_channels

UTC = timezone.utc


def test_defaults_email_and_inapp_chat_only_with_a_webhook():
    assert enabled_channels(Preferences(), "kudos") == ["email", "inapp"]
    assert enabled_channels(Preferences(chat_webhook_url="http://hook"), "kudos") == ["email", "chat", "inapp"]


def test_channels_switch_per_category_and_unsubscribe_turns_email_off_everywhere():
    prefs = Preferences.from_doc({"channels": {"kudos": {"email": False}}, "chat_webhook_url": "http://hook"})
    assert enabled_channels(prefs, "kudos") == ["chat", "inapp"]
    assert enabled_channels(prefs, "pairing_proposed") == ["email", "chat", "inapp"]
    unsubscribed = Preferences.from_doc({"email_enabled": False})
    assert "email" not in enabled_channels(unsubscribed, "pairing_proposed")


def test_digest_holds_non_urgent_until_the_local_digest_hour_and_sends_urgent_now():
    prefs = Preferences(digest=True, digest_hour=8)
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 13:00 in Berlin
    held = decide(prefs, "kudos", "email", now, "Europe/Berlin")
    assert held.action == "digest" and held.not_before == datetime(2026, 3, 11, 7, 0, tzinfo=UTC)
    assert decide(prefs, "pairing_proposed", "email", now, "Europe/Berlin").action == "send"
    assert decide(prefs, "kudos", "inapp", now, "Europe/Berlin").action == "send"


def test_quiet_hours_overnight_defer_email_to_the_local_morning_but_not_the_inbox():
    prefs = Preferences(quiet_hours=("22:00", "07:00"))
    late = datetime(2026, 7, 1, 21, 30, tzinfo=UTC)  # 23:30 in Berlin (UTC+2)
    deferred = decide(prefs, "pairing_proposed", "email", late, "Europe/Berlin")
    assert deferred.action == "defer" and deferred.not_before == datetime(2026, 7, 2, 5, 0, tzinfo=UTC)
    early = datetime(2026, 7, 2, 3, 0, tzinfo=UTC)  # 05:00 in Berlin
    assert decide(prefs, "pairing_proposed", "chat", early, "Europe/Berlin").not_before == datetime(2026, 7, 2, 5, 0, tzinfo=UTC)
    assert decide(prefs, "pairing_proposed", "inapp", late, "Europe/Berlin").action == "send"
    daytime = datetime(2026, 7, 2, 10, 0, tzinfo=UTC)
    assert decide(prefs, "pairing_proposed", "email", daytime, "Europe/Berlin").action == "send"
    # the same UTC instant is daytime in New York
    assert decide(prefs, "pairing_proposed", "email", late, "America/New_York").action == "send"


def test_daytime_quiet_hours_and_unknown_zone_falls_back_to_utc():
    prefs = Preferences(quiet_hours=("12:00", "13:00"))
    at_noon = datetime(2026, 1, 5, 12, 30, tzinfo=UTC)
    assert decide(prefs, "kudos", "email", at_noon, "Not/AZone").not_before == datetime(2026, 1, 5, 13, 0, tzinfo=UTC)


def test_a_cohort_channel_gets_chat_only():
    channel = Preferences.from_doc({"only_chat": True, "chat_webhook_url": "https://chat.example/hook"})
    assert enabled_channels(channel, "pairing_at_risk") == ["chat"]
    assert enabled_channels(Preferences.from_doc({"only_chat": True}), "pairing_at_risk") == []
