"""Templates (language fallback, escaping, unsubscribe footer), the .ics invite, SMTP URLs, tokens."""
from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta, timezone

import pytest

from shared.config import Settings
from services.notifications.bootstrap import delivery_config
from services.notifications.adapters.channels import OutgoingMessage, PermanentFailure, SmtpConfig, build_email
from services.notifications.adapters.templates import TemplateRenderer
from services.notifications.application.links import LinkRefused, link_key, unsubscribe_token, verify_unsubscribe_token
from services.notifications.domain.ics import build_ics
from services.notifications.domain.routing import CATEGORIES


def parsed(raw: bytes):
    """The email as a mail client reads it."""
    return email.message_from_bytes(raw, policy=email.policy.default)


BASE = {"recipient_name": "Ada", "other_name": "Bob <b>", "role": "mentee", "reasons": ["Both speak German"],
        "answer_by_local": "2026-01-03 10:00 CET", "accept_url": "https://app/p/1?action=accept",
        "decline_url": "https://app/p/1?action=decline", "unsubscribe_url": "https://n/v1/unsubscribe?token=t"}


def test_recipient_language_is_used_where_a_template_exists_else_english():
    renderer = TemplateRenderer()
    german = renderer.render("pairing_proposed", ["de", "en"], BASE)
    assert german.language == "de" and german.subject.startswith("Ihr Mentoring-Vorschlag")
    assert "Annehmen: https://app/p/1?action=accept" in german.text
    fallback = renderer.render("kudos", ["fr"], {**BASE, "from_name": "Bob", "kudos_url": "u"})
    assert fallback.language == "en" and fallback.subject == "Bob sent you kudos"
    agreement = renderer.render("agreement_proposed", ["de", "en"], {**BASE, "other_name": "Bob", "revision": 2,
                                                                     "cadence_days": 14, "pairing_url": "https://app/p/1"})
    assert agreement.subject == "Bob schlägt Ihre Mentoring-Vereinbarung vor: bitte bestätigen"
    assert "alle 14 Tage" in agreement.text and "https://app/p/1#agreement" in agreement.text


def test_every_category_has_an_english_and_a_german_template_with_unsubscribe_footer_and_html_is_escaped():
    renderer = TemplateRenderer()
    for category in CATEGORIES:
        rendered = renderer.render(category, ["en"], BASE)
        assert rendered.subject and "https://n/v1/unsubscribe?token=t" in rendered.text, category
        for role in ("mentor", "mentee", "admin"):  # and a German one, for parties and admins alike
            german = renderer.render(category, ["de"], {**BASE, "role": role})
            assert german.language == "de" and "Hallo Ada" in german.text, (category, role)
            assert "https://n/v1/unsubscribe?token=t" in german.text, category
        assert 'href="https://n/v1/unsubscribe?token=t"' in rendered.html, category
    html = renderer.render("pairing_proposed", ["en"], BASE).html
    assert "Bob &lt;b&gt;" in html and "Bob <b>" not in html


def test_reason_codes_read_as_words_in_the_recipients_language():
    from shared.events.catalog.matching import DECLINE_REASONS, END_REASONS

    renderer = TemplateRenderer()
    ended = renderer.render("pairing_ended", ["en"], {**BASE, "reason": "not_a_fit"})
    assert "has ended (not a good fit)" in ended.text and "not_a_fit" not in ended.html
    german = renderer.render("pairing_ended", ["de"], {**BASE, "role": "admin", "mentor_name": "M", "mentee_name": "E",
                                                       "reason": "by_admin"})
    assert "ist beendet (von der Programmleitung beendet)" in german.text
    declined = renderer.render("pairing_declined", ["de"], {**BASE, "role": "admin", "mentor_name": "M",
                                                            "mentee_name": "E", "reason": "no_time"})
    assert "abgelehnt (keine Zeit)" in declined.text
    for code in END_REASONS + DECLINE_REASONS:  # every code the events may carry, in both languages
        for language in ("en", "de"):
            text = renderer.render("pairing_ended", [language], {**BASE, "reason": code}).text
            assert code not in text or "_" not in code, (code, language)
    assert "(some new code)" in renderer.render("pairing_ended", ["en"], {**BASE, "reason": "some_new_code"}).text


def test_a_mentor_is_asked_to_read_a_mentees_request_in_english_and_german():
    renderer = TemplateRenderer()
    context = {**BASE, "role": "mentor", "pairing_url": "https://app/pairings/p1"}
    english = renderer.render("mentor_request", ["en"], context)
    assert english.subject == "Bob <b> asks you to be their mentor"
    assert "Read their message and their goals: https://app/pairings/p1" in english.text
    german = renderer.render("mentor_request", ["de"], context)
    assert "Annehmen: https://app/p/1?action=accept" in german.text and "die Ziele: https://app/pairings/p1" in german.text


def test_ics_invite_from_the_meeting_event_data():
    ics = build_ics({"meeting_id": "MT1", "starts_at": "2026-01-02T10:00:00Z", "duration_minutes": 45,
                     "timezone": "Europe/Berlin"}, sequence=1, dtstamp="2026-01-01T09:00:00.000Z",
                    attendees=[("Ada", "ada@example.com"), ("Bob", None)], organizer=("Ada", "ada@example.com"))
    lines = ics.split("\r\n")
    assert "UID:MT1@mentoring" in lines and "DTSTART:20260102T100000Z" in lines and "DTEND:20260102T104500Z" in lines
    assert "SEQUENCE:1" in lines and "METHOD:REQUEST" in lines
    assert any(line.startswith("ATTENDEE;CN=Ada") and line.endswith("mailto:ada@example.com") for line in lines)
    assert sum(line.startswith("ATTENDEE") for line in lines) == 1
    linked = build_ics({"meeting_id": "MT1", "starts_at": "2026-01-02T10:00:00Z", "duration_minutes": 45},
                       sequence=1, dtstamp="2026-01-01T09:00:00.000Z", url="https://app.example/meetings/MT1\r\nX:y")
    lines = linked.split("\r\n")
    assert "URL:https://app.example/meetings/MT1X:y" in lines  # the meeting's page; no line break gets in
    assert "DESCRIPTION:Meeting page: https://app.example/meetings/MT1X:y" in lines


def test_smtp_url_parsing_and_the_email_carries_unsubscribe_and_invite():
    config = SmtpConfig.from_url("smtp://user%40x:p%3Ass@mail.example:2525?starttls=true&from=noreply@x.org")
    assert (config.host, config.port, config.username, config.password, config.starttls, config.sender) == (
        "mail.example", 2525, "user@x", "p:ss", True, "noreply@x.org")
    assert SmtpConfig.from_url("smtps://mail.example").port == 465
    mail = parsed(build_email(OutgoingMessage("nid", "E1", "meeting_scheduled", "Subj", "text", "<p>html</p>",
                                       email="e@x.org", unsubscribe_url="https://u",
                                       attachments=[("invite.ics", "text/calendar", "BEGIN:VCALENDAR\r\n")]), "s@x"))
    assert mail["List-Unsubscribe"] == "<https://u>" and mail["Message-ID"] == "<nid@mentoring.notifications>"
    parts = {part.get_content_type() for part in mail.walk()}
    assert {"text/plain", "text/html", "text/calendar"} <= parts


def test_unsubscribe_tokens_are_signed_and_expire():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    token = unsubscribe_token("secret", "E42", now + timedelta(days=30))
    assert verify_unsubscribe_token("secret", token, now) == "E42"
    assert verify_unsubscribe_token("secret", token, now + timedelta(days=29, hours=23)) == "E42"

    def refused(secret, text, at=now):
        with pytest.raises(LinkRefused) as caught:
            verify_unsubscribe_token(secret, text, at)
        return caught.value.code

    assert refused("secret", token, now + timedelta(days=30)) == "expired"
    assert refused("other-secret", token) == "forged"
    employee, expires, signature = token.split(".")
    other = unsubscribe_token("secret", "E43", now + timedelta(days=30)).split(".")[0]
    assert refused("secret", f"{other}.{expires}.{signature}") == "forged"  # someone else's id
    assert refused("secret", f"{employee}.{int(expires) + 86400}.{signature}") == "forged"  # a longer life
    for garbage in ("garbage", "E1.forged", "a.b.c.d", f"{employee}.-1.{signature}", f"{employee}.1e9.{signature}",
                    "!!!.1.x", f"{employee}.{expires}.sígnature", ".1.x", ""):
        assert refused("secret", garbage) in ("malformed", "forged"), garbage


def test_the_links_have_their_own_key_required_without_jwt_secret():
    assert link_key("links-key", "jwt-key") == "links-key"
    derived = link_key(None, "jwt-key")
    assert derived not in ("jwt-key", link_key(None, "other-jwt-key")) and len(derived) == 64
    with pytest.raises(RuntimeError, match="NOTIFICATIONS_LINK_SECRET"):
        link_key(None, None)
    with pytest.raises(RuntimeError, match="NOTIFICATIONS_LINK_SECRET"):  # the API and the worker start here
        delivery_config(Settings(service_name="notifications"))
    assert delivery_config(Settings(service_name="notifications", notifications_link_secret="k")).link_secret == "k"


def test_data_that_would_inject_headers_is_a_permanent_failure_naming_the_reason():
    def message(**fields):
        return OutgoingMessage(**{"notification_id": "nid", "recipient_id": "E1", "category": "kudos",
                                  "subject": "Subj", "text": "t", "html": "<p>t</p>", "email": "e@x.org", **fields})

    assert parsed(build_email(message(display_name="Ada Lovelace"), "s@x"))["To"] == "Ada Lovelace <e@x.org>"
    for hostile in ({"subject": "Hi\r\nBcc: victim@evil.example"}, {"subject": "Hi\nX-Spam: no"},
                    {"display_name": "Ada\r\nBcc: victim@evil.example"}, {"email": "e@x.org\r\nBcc: v@evil.example"},
                    {"email": "e@x.org, v@evil.example"}, {"email": "not an address"}, {"subject": "a\x00b"}):
        with pytest.raises(PermanentFailure) as caught:
            build_email(message(**hostile), "s@x")
        assert caught.value.code == "invalid_header", hostile


def test_a_gratitude_prompt_links_to_the_pairings_kudos_form_for_each_moment_in_both_languages():
    renderer = TemplateRenderer()
    context = {**BASE, "other_name": "Bob", "thank_url": "https://app/pairings/P1/kudos"}
    goal = renderer.render("gratitude_prompt", ["en"], {**context, "moment": "goal_achieved"})
    assert goal.subject == "A goal achieved: would you like to thank Bob?" and "https://app/pairings/P1/kudos" in goal.text
    closing = renderer.render("gratitude_prompt", ["de"], {**context, "moment": "cohort_closing"})
    assert closing.subject == "Ihre Mentoring-Kohorte endet: ein Dankeschön für Bob?"
    assert 'href="https://app/pairings/P1/kudos"' in closing.html


def test_a_shared_thank_you_tells_the_manager_who_thanked_whom_with_the_link_to_read_it_in_both_languages():
    renderer = TemplateRenderer()
    context = {**BASE, "from_name": "Eve", "to_name": "Max <m>", "shared_kudos_url": "https://app/kudos/shared/K1"}
    english = renderer.render("kudos_shared", ["en"], context)
    assert english.subject == "Eve thanked Max <m> for their mentoring"
    assert "Read it: https://app/kudos/shared/K1" in english.text and "Max &lt;m&gt;" in english.html
    german = renderer.render("kudos_shared", ["de"], context)
    assert german.subject == "Eve dankt Max <m> für das Mentoring"
    assert 'href="https://app/kudos/shared/K1"' in german.html


def test_a_completed_pairing_thanks_and_links_to_the_pairing_page_to_choose_staying_in_touch_in_both_languages():
    renderer = TemplateRenderer()
    context = {**BASE, "other_name": "Bob", "pairing_url": "https://app/pairings/P1"}
    english = renderer.render("pairing_completed", ["en"], context)
    assert english.subject == "Thank you: your mentoring with Bob is complete"
    assert "stay in touch" in english.text and "https://app/pairings/P1" in english.text
    german = renderer.render("pairing_completed", ["de"], context)
    assert german.subject == "Danke: Ihr Mentoring mit Bob ist abgeschlossen"
    assert 'href="https://app/pairings/P1"' in german.html and "In Kontakt bleiben?" in german.html


def test_the_email_reads_back_as_written_in_any_language_with_its_invite():
    subject = "Ihr Treffen mit Jürgen Groß — " + "sehr lange Betreffzeile " * 8
    text = "Hallo Zoë,\n" + "ein Satz, der sehr lang ist und nicht umgebrochen wird " * 40 + "\n-- \nAbmelden: https://u"
    html = "<p>Hallo Zoë, 日本語 &amp; ünïcödé</p>"
    mail = parsed(build_email(OutgoingMessage(
        "nid", "E1", "meeting_scheduled", subject, text, html, email="zoe@x.org", display_name='Zoë "Z" Groß',
        unsubscribe_url="https://u", attachments=[("invite.ics", "text/calendar", "BEGIN:VCALENDAR\r\nSUMMARY:Jürgen\r\n")]),
        "Mentoring <noreply@x.org>"))
    assert mail["Subject"] == subject and mail["From"] == "Mentoring <noreply@x.org>"
    assert mail["To"].addresses[0].display_name == 'Zoë "Z" Groß' and mail["To"].addresses[0].addr_spec == "zoe@x.org"
    assert mail["Message-ID"] == "<nid@mentoring.notifications>" and mail["X-Notification-Category"] == "meeting_scheduled"
    assert mail.get_body(("plain",)).get_content() == text and mail.get_body(("html",)).get_content() == html
    invite = next(part for part in mail.iter_attachments())
    assert invite.get_content_type() == "text/calendar" and invite.get_param("method") == "REQUEST"
    assert invite.get_filename() == "invite.ics" and invite.get_content() == "BEGIN:VCALENDAR\r\nSUMMARY:Jürgen\r\n"
    assert not mail.defects and all(len(line) <= 998 for line in build_email(OutgoingMessage(
        "nid", "E1", "kudos", "Ü" * 600, text, html, email="zoe@x.org"), "s@x").split(b"\r\n"))


def test_an_address_that_is_not_ascii_fails_the_delivery_for_good():
    with pytest.raises(PermanentFailure) as caught:
        build_email(OutgoingMessage("nid", "E1", "kudos", "S", "t", "<p>t</p>", email="zoë@x.org"), "s@x")
    assert caught.value.code == "invalid_header"
