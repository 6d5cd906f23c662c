"""Chat webhook URLs are typed in by people: where they may point, and one bounded, pinned POST.

A webhook is a request this service makes on someone else's say-so (server-side request forgery):
left alone it could reach the cloud metadata endpoint, a database on the pod network or an admin
port on loopback. So a URL must be `https` (plain `http` only to loopback, only in development
mode); its host is resolved once and every address it resolves to must be a public unicast one;
the POST then connects to exactly the address that was checked (a second DNS lookup could answer
differently: DNS rebinding), with the URL's host name in the Host header and as the TLS server
name the certificate is checked against. Redirects are never followed, a whole POST has one
deadline, and at most `max_response_bytes` of the answer are read.

The same check runs when a URL is saved (a 422 naming the field) and before every send (DNS may
have changed since).
"""
from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance-metadata endpoints (AWS/GCP/Azure/OpenStack, AWS ECS task and IPv6, Alibaba,
# Oracle): most are link-local or private anyway; listed so the refusal says what they are.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192"))

MAX_URL_LENGTH = 2048


class UnsafeWebhook(Exception):
    """The URL may not be posted to; `code` is machine-readable, the message names no URL (a
    webhook URL's path is its credential)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class UnresolvableWebhook(UnsafeWebhook):
    """The host does not resolve (now): refused when saved, retried later when sending."""


class WebhookTimeout(Exception):
    pass


def refusal(address: str | IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why nothing may be sent to `address` (e.g. "private"), or None for a public unicast one."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address inside an IPv6 one reaches the IPv4 host: judge that one.
        if ip.ipv4_mapped is not None:
            return refusal(ip.ipv4_mapped, allow_loopback=allow_loopback)
        if ip.sixtofour is not None:
            reason = refusal(ip.sixtofour, allow_loopback=allow_loopback)
            if reason:
                return reason
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:  # e.g. 100.64.0.0/10 (carrier-grade NAT), which is_private leaves out
        return "non-public"
    return None


@dataclass(frozen=True)
class WebhookTarget:
    """A checked URL: post to `address`, naming `host` (Host header, TLS server name)."""

    scheme: str
    host: str
    port: int
    address: str
    path: str


class WebhookGuard:
    """Checks webhook URLs. `development`: loopback allowed, over http too. `resolve` has
    `socket.getaddrinfo`'s signature (tests give one that never asks a real DNS server)."""

    def __init__(self, *, development: bool = False, resolve=None):
        self.development = development
        self._resolve = resolve

    def resolve(self, host: str, port: int) -> list:
        resolve = self._resolve or socket.getaddrinfo  # looked up per call: tests patch the module
        return resolve(host, port, 0, socket.SOCK_STREAM)

    def check(self, url: str) -> WebhookTarget:
        if len(url) > MAX_URL_LENGTH:
            raise UnsafeWebhook("webhook_url_too_long", f"a webhook URL has at most {MAX_URL_LENGTH} characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise UnsafeWebhook("webhook_url_invalid", "not a URL") from None
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http") or not parts.hostname:
            raise UnsafeWebhook("webhook_scheme_forbidden", "a webhook URL must start with https://")
        if scheme == "http" and not self.development:
            raise UnsafeWebhook("webhook_scheme_forbidden", "a webhook URL must start with https://")
        if parts.username is not None or parts.password is not None:
            raise UnsafeWebhook("webhook_url_invalid", "a webhook URL may not carry a user name or password")
        host = parts.hostname
        port = port or (443 if scheme == "https" else 80)
        try:
            infos = self.resolve(host, port)
        except (OSError, UnicodeError):
            raise UnresolvableWebhook("webhook_unresolvable", "the webhook's host name does not resolve") from None
        addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
        if not addresses:
            raise UnresolvableWebhook("webhook_unresolvable", "the webhook's host name does not resolve")
        # Every address must pass, not just the first: a name answering one public and one private
        # address would otherwise pass today and be posted to the private one tomorrow.
        for address in addresses:
            reason = refusal(address, allow_loopback=self.development)
            if reason:
                raise UnsafeWebhook("webhook_address_forbidden",
                                    f"the webhook's host resolves to a {reason} address ({address})")
        if scheme == "http" and not all(ipaddress.ip_address(a).is_loopback for a in addresses):
            raise UnsafeWebhook("webhook_scheme_forbidden",
                                "plain http is only for loopback in development mode; use https://")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return WebhookTarget(scheme=scheme, host=host, port=port, address=addresses[0], path=path)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; `host` (the name) still goes into the Host header."""

    def __init__(self, target: WebhookTarget, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    default_port = 443

    def __init__(self, target: WebhookTarget, timeout: float, context: ssl.SSLContext):
        super().__init__(target, timeout)
        self.context = context

    def connect(self):
        super().connect()
        # SNI and the certificate check use the URL's host name, not the address.
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.host)


def post_json(target: WebhookTarget, payload: dict, *, deadline_s: float, max_response_bytes: int,
              tls_context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    """POST `payload` to the checked target; (status, at most `max_response_bytes` of the body).

    One deadline for everything (connect, TLS, request, answer): a server that trickles its answer
    a byte at a time is cut off when it passes, not after a timeout per read."""
    connection: _PinnedHTTPConnection
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(target, deadline_s, tls_context or ssl.create_default_context())
    else:
        connection = _PinnedHTTPConnection(target, deadline_s)
    expired = threading.Event()

    def cut_off():
        expired.set()
        sock = connection.sock
        if sock is not None:
            try:
                # the plain socket's shutdown: SSLSocket's would drop its TLS state under the reader
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(deadline_s, cut_off)
    timer.daemon = True
    timer.start()
    try:
        body = json.dumps(payload).encode()
        connection.request("POST", target.path, body=body,
                           headers={"Content-Type": "application/json", "User-Agent": "mentoring-notifications"})
        response = connection.getresponse()
        answer = response.read(max_response_bytes)  # the rest is never read: the connection closes
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set() or isinstance(exc, TimeoutError):
            raise WebhookTimeout("the webhook did not answer in time") from exc
        raise
    finally:
        timer.cancel()
        connection.close()
    if expired.is_set():  # cut off mid-answer: what was read is not the answer
        raise WebhookTimeout("the webhook did not answer in time")
    return response.status, answer
