"""Delivery channels: email over SMTP, chat incoming webhooks (Slack/Teams), the in-app inbox.

Each channel's `send(message)` either returns (delivered), or raises `TransientFailure` (worth
retrying later: SMTP 4xx, a webhook 5xx or timeout, a server that cannot be reached) or
`PermanentFailure` (retrying cannot help: SMTP 5xx, a webhook 4xx, no address to send to).
"""
from __future__ import annotations

import base64
import http.client
import re
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
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


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _header_safe(value: str | None, what: str) -> str:
    """Header text from data (a subject naming people, an HRIS name or address) may not hold a line
    break or another control character: it could add headers or recipients (header injection)."""
    value = value or ""
    if _CONTROL.search(value):
        raise PermanentFailure("invalid_header", f"the {what} holds a line break or control character")
    return value


def _encoded_words(value: str, header: str) -> str:
    """A header value as RFC 2047 encoded words where it is not ASCII (long ones on one line, as RFC
    5322's 998 allows: a folded first word reached some clients as a subject with a leading space)."""
    return value if value.isascii() else Header(value, "utf-8", maxlinelen=998, header_name=header).encode(linesep="\r\n")


def _part(content_type: str, body: str, *, params: str = "", filename: str | None = None) -> bytes:
    """One MIME part: base64 keeps any line length and any character safe on the wire."""
    head = f"Content-Type: {content_type}; charset=\"utf-8\"{params}\r\n"
    if filename is not None:
        escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
        head += f"Content-Disposition: attachment; filename=\"{escaped}\"\r\n"
    head += "Content-Transfer-Encoding: base64\r\n\r\n"
    return head.encode("ascii") + base64.encodebytes(body.encode("utf-8")).replace(b"\n", b"\r\n")


def _multipart(boundary: str, parts: list[bytes]) -> bytes:
    delimiter = f"--{boundary}\r\n".encode("ascii")
    return b"".join(delimiter + part + b"\r\n" for part in parts) + f"--{boundary}--\r\n".encode("ascii")


def build_email(message: OutgoingMessage, sender: str) -> bytes:
    """The email for `message`, as the bytes SMTP sends; `PermanentFailure("invalid_header")` when data
    would inject headers (the delivery fails with that reason and the queue moves on).

    Written directly rather than through `email.message.EmailMessage`: its header parsing and
    folding cost about 5 ms of CPU per message (built, then flattened again by `send_message`), which
    capped a worker's senders near 200 emails/s on one core however the I/O was arranged. What this
    writes is checked by parsing it back with the `email` package (tests/unit/notifications)."""
    address = _header_safe(message.email, "recipient address")
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError):
        raise PermanentFailure("invalid_header", "the recipient address is not one email address") from None
    subject = _header_safe(message.subject, "subject")
    name = _header_safe(message.display_name, "display name")
    try:
        return _email_bytes(message, sender, address, subject, name)
    except UnicodeEncodeError:  # an address (the recipient's or the sender's) that is not ASCII
        raise PermanentFailure("invalid_header", "an address is not ASCII") from None


def _email_bytes(message: OutgoingMessage, sender: str, address: str, subject: str, name: str) -> bytes:
    headers = [
        ("Subject", _encoded_words(subject, "Subject")),
        ("From", sender),
        ("To", formataddr((name, address), charset="utf-8")),
        ("Date", formatdate(utcnow().timestamp(), usegmt=True)),
        # The same id on a duplicate (see application/delivery.py) lets mail clients fold it away.
        ("Message-ID", f"<{message.notification_id}@mentoring.notifications>"),
        ("X-Notification-Id", message.notification_id),
        ("X-Notification-Category", _header_safe(message.category, "category")),
    ]
    if message.unsubscribe_url:
        headers.append(("List-Unsubscribe", f"<{_header_safe(message.unsubscribe_url, 'unsubscribe link')}>"))
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    # Boundaries need no randomness: every part's body is base64, whose alphabet has no "_", so no
    # line of a body can be a delimiter.
    outer = f"mentoring_{message.notification_id}_mixed" if message.attachments else f"mentoring_{message.notification_id}_alt"
    alternative = [_part("text/plain", message.text), _part("text/html", message.html)]
    if message.attachments:
        inner = f"mentoring_{message.notification_id}_alt"
        parts = [f"Content-Type: multipart/alternative; boundary=\"{inner}\"\r\n\r\n".encode("ascii")
                 + _multipart(inner, alternative)]
        for filename, content_type, body in message.attachments:
            method = "; method=REQUEST" if content_type == "text/calendar" else ""
            parts.append(_part(content_type, body, params=method, filename=_header_safe(filename, "attachment name")))
        content_type, body = f"multipart/mixed; boundary=\"{outer}\"", _multipart(outer, parts)
    else:
        content_type, body = f"multipart/alternative; boundary=\"{outer}\"", _multipart(outer, alternative)
    headers += [("MIME-Version", "1.0"), ("Content-Type", content_type)]
    head = "".join(f"{key}: {value}\r\n" for key, value in headers)
    return head.encode("ascii") + b"\r\n" + body


class EmailChannel:
    """SMTP, one connection per sender thread kept open across messages (a TLS handshake and login
    per message would cap a worker at a few dozen messages a second).

    A kept connection the server has dropped is replaced once, on the next message (the message goes
    out on the new one); a connection idle for more than `idle_s` is closed before the next message
    and a new one opened (servers drop idle clients after a few minutes, and the first command on
    such a connection fails). `connect()` opens and logs in a client (smtplib's by default)."""

    name = "email"

    def __init__(self, smtp_url: str | None, *, idle_s: float = 60.0, connect=None, monotonic=time.monotonic):
        self.config = SmtpConfig.from_url(smtp_url) if smtp_url else None
        # The envelope sender (MAIL FROM): the address in `from=`, which may carry a display name.
        self.envelope_sender = parseaddr(self.config.sender)[1] if self.config else ""
        self.idle_s = idle_s
        self.connect = connect or self._connect
        self.monotonic = monotonic
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
        return client

    def _client(self) -> tuple[smtplib.SMTP, bool]:
        """This thread's connection and whether it was kept from an earlier message."""
        client = getattr(self._local, "client", None)
        if client is not None and self.monotonic() - self._local.used_at > self.idle_s:
            self._drop(quit=True)
            client = None
        if client is not None:
            return client, True
        client = self._local.client = self.connect()
        with self._lock:
            self._open.append(client)
        return client, False

    def _drop(self, *, quit: bool = False) -> None:
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            with self._lock:
                if client in self._open:
                    self._open.remove(client)
            try:
                client.quit() if quit else client.close()
            except Exception:  # noqa: BLE001 - already broken
                client.close()

    def send(self, message: OutgoingMessage) -> None:
        if self.config is None:
            raise PermanentFailure("smtp_not_configured", "SMTP_URL is not set")
        if not message.email:
            raise TransientFailure("no_address", "no email address known yet for the recipient")
        mail = build_email(message, self.config.sender)
        while True:
            client, reused = None, False
            try:
                client, reused = self._client()
                client.sendmail(self.envelope_sender, [message.email], mail)
                self._local.used_at = self.monotonic()
                return
            except smtplib.SMTPRecipientsRefused as exc:
                self._reset(client)
                codes = [code for code, _ in exc.recipients.values()]
                self._raise_for(min(codes) if codes else 550, "recipient refused")
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                if not reused:
                    raise TransientFailure("smtp_unreachable", type(exc).__name__) from exc
                # the kept connection had gone stale: once more, on a new one
            except smtplib.SMTPResponseException as exc:
                self._reset(client)
                self._raise_for(exc.smtp_code, "smtp error")
            except (smtplib.SMTPConnectError, OSError) as exc:
                self._drop()
                raise TransientFailure("smtp_unreachable", type(exc).__name__) from exc

    def _reset(self, client) -> None:
        """After a refused message, start the next one on a clean SMTP transaction."""
        self._local.used_at = self.monotonic()
        if client is None:
            return
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
