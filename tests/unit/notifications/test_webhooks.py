"""Chat webhooks as an attacker would set them (SSRF): which addresses are refused, and proof with
real listeners on 127.0.0.1 that nothing refused is ever contacted. No traffic leaves loopback:
every name is resolved by a stand-in for `socket.getaddrinfo`, never by DNS."""
from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.notifications.adapters import webhooks
from services.notifications.adapters.channels import ChatChannel, OutgoingMessage, PermanentFailure, TransientFailure
from services.notifications.adapters.webhooks import UnresolvableWebhook, UnsafeWebhook, WebhookGuard, refusal
from services.notifications.application import commands
from shared.errors import Invalid

REAL_GETADDRINFO = socket.getaddrinfo
# Names the tests resolve; anything else must be an address literal (AI_NUMERICHOST: no DNS query).
NAMES = {"hooks.chat.example": "127.0.0.1", "localhost": "127.0.0.1", "hooks.public.example": "93.184.215.14",
         "mixed.example": ["93.184.215.14", "10.1.2.3"]}


def fake_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    if host in NAMES:
        answers = NAMES[host] if isinstance(NAMES[host], list) else [NAMES[host]]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers]
    return REAL_GETADDRINFO(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)


@pytest.fixture(autouse=True)
def no_dns(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)


@pytest.fixture
def connections(monkeypatch):
    """Every outgoing connection attempt, recorded (and still made: only loopback listeners exist)."""
    made: list = []
    real = socket.create_connection

    def recording(address, *args, **kwargs):
        made.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", recording)
    return made


class Listener:
    """A loopback HTTP server counting every connection; `reply(handler)` answers each POST."""

    def __init__(self, reply=None, tls: ssl.SSLContext | None = None):
        listener = self
        self.connections = 0
        self.requests: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def setup(self):
                listener.connections += 1
                super().setup()

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                listener.requests.append({"path": self.path, "host": self.headers.get("Host")})
                (reply or Listener.ok)(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @staticmethod
    def ok(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"ok")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def message(url: str) -> OutgoingMessage:
    return OutgoingMessage("n1", "cohort:C1", "pairing_at_risk", "At risk", "text", "<p>text</p>", webhook_url=url)


# -- the address rules -----------------------------------------------------------------------------

@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "loopback"), ("127.1.2.3", "loopback"), ("::1", "loopback"),
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("fd12:3456::1", "private"),
    ("169.254.169.254", "cloud metadata"), ("169.254.170.2", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"), ("192.0.0.192", "cloud metadata"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "private"), ("255.255.255.255", "private"), ("100.64.0.1", "non-public"),
    ("2001:db8::1", "private"),
    # IPv4 inside IPv6: judged as the IPv4 address it reaches
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"), ("::ffff:169.254.169.254", "cloud metadata"),
    ("2002:7f00:1::1", "loopback"), ("2002:a00:1::1", "private"),
])
def test_addresses_a_webhook_may_not_reach(address, reason):
    assert refusal(address) == reason


def test_public_unicast_addresses_pass_and_loopback_only_in_development():
    for address in ("93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.215.14"):
        assert refusal(address) is None, address
    assert refusal("127.0.0.1", allow_loopback=True) is None and refusal("::1", allow_loopback=True) is None
    assert refusal("10.0.0.1", allow_loopback=True) == "private"  # development relaxes loopback, nothing else


def test_urls_are_checked_scheme_first_then_every_address_the_name_resolves_to():
    guard, dev = WebhookGuard(), WebhookGuard(development=True)
    target = guard.check("https://hooks.public.example/services/T0/B0/secret?x=1")
    assert (target.host, target.port, target.address, target.path) == (
        "hooks.public.example", 443, "93.184.215.14", "/services/T0/B0/secret?x=1")

    def code(checker, url):
        with pytest.raises(UnsafeWebhook) as caught:
            checker.check(url)
        return caught.value.code

    assert code(guard, "http://hooks.public.example/x") == "webhook_scheme_forbidden"
    assert code(dev, "http://hooks.public.example/x") == "webhook_scheme_forbidden"  # dev: http to loopback only
    assert code(guard, "ftp://hooks.public.example/x") == "webhook_scheme_forbidden"
    assert code(guard, "https://hooks.chat.example/x") == "webhook_address_forbidden"  # a name for 127.0.0.1
    assert code(guard, "https://mixed.example/x") == "webhook_address_forbidden"  # one private answer is enough
    assert code(guard, "https://user:pw@hooks.public.example/x") == "webhook_url_invalid"
    assert code(guard, "https://hooks.public.example:99999/x") == "webhook_url_invalid"
    assert code(guard, "https://2130706433/x") == "webhook_address_forbidden"  # 127.0.0.1 spelt as a number
    assert code(guard, "https://[::ffff:7f00:1]/x") == "webhook_address_forbidden"
    assert code(guard, "https://hooks.public.example/" + "a" * 3000) == "webhook_url_too_long"
    with pytest.raises(UnresolvableWebhook):
        guard.check("https://no-such-name.invalid/x")
    assert dev.check("http://hooks.chat.example:8080/x").address == "127.0.0.1"
    assert dev.check("http://[::1]:8080/x").address == "::1"


def test_production_http_is_refused_before_any_name_is_resolved(monkeypatch):
    asked: list = []
    guard = WebhookGuard(resolve=lambda *args: asked.append(args) or [])
    with pytest.raises(UnsafeWebhook):
        guard.check("http://hooks.public.example/x")
    assert asked == []


def test_saving_an_unsafe_url_is_a_422_naming_the_field():
    class Context:
        webhooks = WebhookGuard()

    refused_private = ("https://10.0.0.1/x", "https://169.254.169.254/latest")  # refused when saved, never contacted
    for url in ("http://127.0.0.1:9/x", "https://127.0.0.1/x", *refused_private,
                "https://[::1]/x", "https://hooks.chat.example/x", "https://no-such-name.invalid/x"):
        with pytest.raises(Invalid) as caught:
            commands.check_webhook(Context(), url)
        assert caught.value.status == 422 and caught.value.field == "chat_webhook_url", url
    commands.check_webhook(Context(), "https://hooks.public.example/x")
    commands.check_webhook(Context(), None)  # removing the channel


# -- nothing refused is contacted --------------------------------------------------------------------

def test_refused_webhooks_are_never_contacted(listener, connections):
    port = listener.port
    channel = ChatChannel(WebhookGuard(development=False), deadline_s=2)
    refused_private = ("https://10.0.0.1/hook", "https://169.254.169.254/latest/meta-data/")  # refused unsent
    for url in (f"http://127.0.0.1:{port}/hook", f"https://127.0.0.1:{port}/hook", *refused_private,
                f"https://[::1]:{port}/hook",
                f"https://[::ffff:127.0.0.1]:{port}/hook", f"https://hooks.chat.example:{port}/hook",
                f"https://localhost:{port}/hook"):
        with pytest.raises((PermanentFailure, TransientFailure)) as caught:
            channel.send(message(url))
        assert caught.value.code in ("webhook_scheme_forbidden", "webhook_address_forbidden", "webhook_unresolvable"), url
    assert connections == [] and listener.connections == 0


def test_a_redirect_from_an_allowed_webhook_is_not_followed(connections):
    elsewhere = Listener()

    def redirect(handler):
        handler.send_response(307)
        handler.send_header("Location", f"http://127.0.0.1:{elsewhere.port}/internal-admin")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    allowed = Listener(redirect)
    try:
        channel = ChatChannel(WebhookGuard(development=True), deadline_s=2)
        with pytest.raises(PermanentFailure) as caught:
            channel.send(message(f"http://hooks.chat.example:{allowed.port}/hook"))
        assert caught.value.code == "webhook_307"
        assert allowed.requests == [{"path": "/hook", "host": f"hooks.chat.example:{allowed.port}"}]
        assert elsewhere.connections == 0 and connections == [("127.0.0.1", allowed.port)]
    finally:
        allowed.close()
        elsewhere.close()


def test_the_post_goes_to_the_address_checked_without_a_second_lookup(listener, connections, monkeypatch):
    """DNS rebinding: the name answers loopback (allowed in development) first, then a private
    address; the post still goes to the first answer, and the name is resolved once per send."""
    answers = iter(["127.0.0.1", "10.9.9.9"])
    asked: list = []

    def rebinding(host, port, *args):
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    ChatChannel(WebhookGuard(development=True, resolve=rebinding), deadline_s=2).send(
        message(f"http://hooks.chat.example:{listener.port}/hook"))
    assert asked == ["hooks.chat.example"] and connections == [("127.0.0.1", listener.port)]
    assert listener.requests == [{"path": "/hook", "host": f"hooks.chat.example:{listener.port}"}]


def test_one_deadline_for_a_trickling_server_and_the_answer_is_capped(connections):
    def trickle(handler):
        try:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for _ in range(50):  # a header byte every 0.1 s: each read is quick, the whole never ends
                handler.wfile.write(b"X")
                handler.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass  # the client hung up

    slow = Listener(trickle)
    try:
        started = time.monotonic()
        with pytest.raises(TransientFailure) as caught:
            ChatChannel(WebhookGuard(development=True), deadline_s=0.5).send(
                message(f"http://127.0.0.1:{slow.port}/hook"))
        assert caught.value.code == "webhook_timeout" and time.monotonic() - started < 1.5
    finally:
        slow.close()

    def huge(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(50 * 1024 * 1024))
        handler.end_headers()
        try:
            for _ in range(50 * 16):
                handler.wfile.write(b"x" * 65536)
        except OSError:
            pass  # the client stopped reading

    big = Listener(huge)
    try:
        target = WebhookGuard(development=True).check(f"http://127.0.0.1:{big.port}/hook")
        status, body = webhooks.post_json(target, {"text": "hi"}, deadline_s=5, max_response_bytes=1000)
        assert status == 200 and len(body) == 1000
    finally:
        big.close()


def test_https_uses_the_url_host_for_sni_and_the_certificate_while_connecting_to_the_checked_address(
        tmp_path, connections):
    """A TLS listener on 127.0.0.1 with a certificate for hooks.chat.example only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.chat.example")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.chat.example")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server_names: list = []
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    server_context.sni_callback = lambda sock, server_name, context: server_names.append(server_name)
    tls = Listener(tls=server_context)
    client_context = ssl.create_default_context(cafile=str(cert_file))
    try:
        channel = ChatChannel(WebhookGuard(development=True), deadline_s=3, tls_context=client_context)
        channel.send(message(f"https://hooks.chat.example:{tls.port}/hook"))
        assert server_names == ["hooks.chat.example"] and connections == [("127.0.0.1", tls.port)]
        assert tls.requests == [{"path": "/hook", "host": f"hooks.chat.example:{tls.port}"}]
        # the same listener reached by its address: the certificate does not name it, so nothing is sent
        with pytest.raises(TransientFailure):
            channel.send(message(f"https://127.0.0.1:{tls.port}/hook"))
        assert len(tls.requests) == 1
    finally:
        tls.close()
