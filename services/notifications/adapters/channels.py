"""Delivery channels: email over SMTP, chat incoming webhooks (Slack/Teams), the in-app inbox.

Each channel's `send(message)` either returns (delivered), or raises `TransientFailure` (worth
retrying later: SMTP 4xx, a webhook 5xx or timeout, a server that cannot be reached) or
`PermanentFailure` (retrying cannot help: SMTP 5xx, a webhook 4xx, no address to send to).
"""
from __future__ import annotations

import email.policy
import http.client
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from urllib.parse import parse_qs, unquote, urlparse

from shared.clock import utcnow
from services.notifications.adapters.webhooks import (
    UnresolvableWebhook, UnsafeWebhook, WebhookGuard, WebhookTimeout, post_json,
)


class DeliveryFailure(Exception):
    """`code` is short and machine-readable; the message never holds personal data."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


class TransientFailure(DeliveryFailure):
    pass


class PermanentFailure(DeliveryFailure):
    pass


@dataclass
class OutgoingMessage:
    notification_id: str
    recipient_id: str
    category: str
    subject: str
    text: str
    html: str
    email: str | None = None
    display_name: str | None = None
    webhook_url: str | None = None
    unsubscribe_url: str | None = None
    link: str | None = None
    attachments: list = field(default_factory=list)  # (filename, "type/subtype", text)
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    ssl: bool = False
    sender: str = "mentoring@localhost"
    timeout_s: float = 10.0

    @classmethod
    def from_url(cls, url: str) -> "SmtpConfig":
        """smtp://user:pass@host:port?starttls=true&from=addr ; smtps:// for implicit TLS."""
        parsed = urlparse(url)
        if parsed.scheme not in ("smtp", "smtps"):
            raise ValueError("SMTP_URL must start with smtp:// or smtps://")
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        truthy = ("1", "true", "yes", "on")
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or (465 if parsed.scheme == "smtps" else 25),
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            starttls=query.get("starttls", "false").lower() in truthy,
            ssl=parsed.scheme == "smtps",
            sender=query.get("from", "mentoring@localhost"),
            timeout_s=float(query.get("timeout", 10)),
        )


# Long subjects stay on one header line (RFC 5322 allows 998): Python's folding of a long first
# word would otherwise reach clients as a subject with a leading space.
_EMAIL_POLICY = email.policy.SMTP.clone(max_line_length=998)


def _header_safe(value: str | None, what: str) -> str:
    """Header text from data (a subject naming people, an HRIS name or address) may not hold a line
    break or another control character: it could add headers or recipients (header injection)."""
    value = value or ""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise PermanentFailure("invalid_header", f"the {what} holds a line break or control character")
    return value


def build_email(message: OutgoingMessage, sender: str) -> EmailMessage:
    """The email for `message`; `PermanentFailure("invalid_header")` when data would inject headers
    (the delivery fails with that reason and the queue moves on)."""
    address = _header_safe(message.email, "recipient address")
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError):
        raise PermanentFailure("invalid_header", "the recipient address is not one email address") from None
    try:
        return _build_email(message, sender, address)
    except ValueError as exc:  # the email package's own refusal of a header value
        raise PermanentFailure("invalid_header", type(exc).__name__) from None


def _build_email(message: OutgoingMessage, sender: str, address: str) -> EmailMessage:
    mail = EmailMessage(policy=_EMAIL_POLICY)
    mail["Subject"] = _header_safe(message.subject, "subject")
    mail["From"] = sender
    mail["To"] = formataddr((_header_safe(message.display_name, "display name"), address))
    mail["Date"] = formatdate(utcnow().timestamp(), usegmt=True)
    # The same id on a duplicate (see application/delivery.py) lets mail clients fold it away.
    mail["Message-ID"] = f"<{message.notification_id}@mentoring.notifications>"
    mail["X-Notification-Id"] = message.notification_id
    mail["X-Notification-Category"] = message.category
    if message.unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{_header_safe(message.unsubscribe_url, 'unsubscribe link')}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    for filename, content_type, body in message.attachments:
        maintype, subtype = content_type.split("/", 1)
        params = {"method": "REQUEST"} if content_type == "text/calendar" else {}
        mail.add_attachment(body.encode("utf-8"), maintype=maintype, subtype=subtype, filename=filename,
                            params=params)
    return mail


class EmailChannel:
    """SMTP, one connection per sender thread kept open across messages (a TLS handshake and login
    per message would cap a worker at a few dozen messages a second). A connection the server has
    dropped is replaced once, on the next message."""

    name = "email"

    def __init__(self, smtp_url: str | None):
        self.config = SmtpConfig.from_url(smtp_url) if smtp_url else None
        self._local = threading.local()
        self._open: list = []
        self._lock = threading.Lock()

    def _connect(self):
        config = self.config
        if config.ssl:
            client = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_s,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
        try:
            if config.starttls:
                client.starttls(context=ssl.create_default_context())
            if config.username:
                client.login(config.username, config.password or "")
        except BaseException:
            client.close()
            raise
        with self._lock:
            self._open.append(client)
        return client

    def _drop(self) -> None:
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            with self._lock:
                if client in self._open:
                    self._open.remove(client)
            try:
                client.close()
            except Exception:  # noqa: BLE001 - already broken
                pass

    def send(self, message: OutgoingMessage) -> None:
        if self.config is None:
            raise PermanentFailure("smtp_not_configured", "SMTP_URL is not set")
        if not message.email:
            raise TransientFailure("no_address", "no email address known yet for the recipient")
        mail = build_email(message, self.config.sender)
        for reused in (True, False):
            try:
                client = getattr(self._local, "client", None)
                if client is None:
                    reused = False
                    client = self._local.client = self._connect()
                client.send_message(mail)
                return
            except smtplib.SMTPRecipientsRefused as exc:
                self._reset(client)
                codes = [code for code, _ in exc.recipients.values()]
                self._raise_for(min(codes) if codes else 550, "recipient refused")
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                if not reused:
                    raise TransientFailure("smtp_unreachable", type(exc).__name__) from exc
                # the kept connection had gone stale: once more on a new one
            except smtplib.SMTPResponseException as exc:
                self._reset(client)
                self._raise_for(exc.smtp_code, "smtp error")
            except (smtplib.SMTPConnectError, OSError) as exc:
                self._drop()
                raise TransientFailure("smtp_unreachable", type(exc).__name__) from exc

    def _reset(self, client) -> None:
        """After a refused message, start the next one on a clean SMTP transaction."""
        try:
            client.rset()
        except Exception:  # noqa: BLE001 - the next send reconnects
            self._drop()

    def close(self) -> None:
        with self._lock:
            clients, self._open = self._open, []
        for client in clients:
            try:
                client.quit()
            except Exception:  # noqa: BLE001
                client.close()

    @staticmethod
    def _raise_for(code: int, what: str):
        if 400 <= code < 500:
            raise TransientFailure(f"smtp_{code}", what)
        raise PermanentFailure(f"smtp_{code}", what)


class ChatChannel:
    """Incoming-webhook JSON both Slack and Microsoft Teams accept: a `text` field (markdown).

    The URL is checked again before every post (adapters/webhooks.py: DNS may have changed since it
    was saved) and the post goes to the address checked, without redirects, within one deadline."""

    name = "chat"
    max_response_bytes = 64 * 1024

    def __init__(self, guard: WebhookGuard | None = None, *, deadline_s: float = 5.0,
                 tls_context: ssl.SSLContext | None = None):
        self.guard = guard or WebhookGuard()
        self.deadline_s = deadline_s
        self.tls_context = tls_context

    @staticmethod
    def payload(message: OutgoingMessage) -> dict:
        text = f"*{message.subject}*\n{message.text}"
        return {"text": text, "notification_id": message.notification_id, "category": message.category}

    def send(self, message: OutgoingMessage) -> None:
        if not message.webhook_url:
            raise PermanentFailure("no_webhook", "no chat webhook URL configured")
        try:
            target = self.guard.check(message.webhook_url)
        except UnresolvableWebhook as exc:
            raise TransientFailure(exc.code, exc.message) from exc
        except UnsafeWebhook as exc:
            raise PermanentFailure(exc.code, exc.message) from exc
        try:
            status, _ = post_json(target, self.payload(message), deadline_s=self.deadline_s,
                                  max_response_bytes=self.max_response_bytes, tls_context=self.tls_context)
        except WebhookTimeout as exc:
            raise TransientFailure("webhook_timeout", "the webhook did not answer in time") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise TransientFailure("webhook_unreachable", type(exc).__name__) from exc
        if 300 <= status < 400:
            raise PermanentFailure(f"webhook_{status}", "the webhook answered with a redirect (never followed)")
        if status >= 500 or status == 429:
            raise TransientFailure(f"webhook_{status}", "webhook server error")
        if status >= 400:
            raise PermanentFailure(f"webhook_{status}", "webhook refused the message")


class InAppChannel:
    """Writes the message into the recipient's inbox; keyed by notification id, so idempotent."""

    name = "inapp"

    def __init__(self, inbox):
        self.inbox = inbox

    def send(self, message: OutgoingMessage) -> None:
        self.inbox.put(message)
