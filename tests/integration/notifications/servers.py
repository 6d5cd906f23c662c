"""Real loopback servers for the notifications tests: an SMTP server (aiosmtpd) and a webhook receiver."""
from __future__ import annotations

import email
import json
import asyncio
import socket
import threading
import time
import uuid
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from shared.clock import rfc3339, utcnow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """Records every message accepted (and when: `arrivals`); `replies` (e.g. ["451 ..."]) are
    answered first, in order; `delay_s` makes the server slow (each message takes that long)."""

    def __init__(self, delay_s: float = 0.0):
        self.messages: list = []
        self.arrivals: list[tuple[float, str]] = []  # (time.monotonic(), Message-ID)
        self.replies: list[str] = []
        self.delay_s = delay_s
        self.connections = 0
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        with self.lock:
            if self.replies:
                return self.replies.pop(0)
            message = email.message_from_bytes(envelope.content, policy=policy.default)
            self.messages.append((list(envelope.rcpt_tos), message))
            self.arrivals.append((time.monotonic(), message["Message-ID"]))
        return "250 OK"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def to(self, address: str) -> list:
        with self.lock:
            return [m for rcpts, m in self.messages if address in rcpts]

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


class WebhookSink:
    """An incoming-webhook receiver: records JSON posts per path; `statuses[path]` answered first."""

    def __init__(self):
        sink = self
        self.posts: list[tuple[str, dict]] = []
        self.statuses: dict[str, list[int]] = {}
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink.lock:
                    queued = sink.statuses.get(self.path) or []
                    status = queued.pop(0) if queued else 200
                    if status < 300:
                        sink.posts.append((self.path, json.loads(body)))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[dict]:
        with self.lock:
            return [body for p, body in self.posts if p == path]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def envelope(event_type: str, data: dict, *, producer: str, aggregate_type: str, aggregate_id: str,
             version: int = 1, occurred_at: str | None = None) -> dict:
    event_id = str(uuid.uuid4())
    return {"event_id": event_id, "event_type": event_type, "schema_version": 1,
            "occurred_at": occurred_at or rfc3339(utcnow()), "producer": producer,
            "aggregate_type": aggregate_type, "aggregate_id": aggregate_id, "aggregate_version": version,
            "correlation_id": event_id, "causation_id": None, "data": data}


def person(employee_id: str, *, languages=("en",), timezone="Europe/London") -> dict:
    return {"event_id": str(uuid.uuid4()), "event_type": "EmployeeUpserted", "schema_version": 1,
            "occurred_at": rfc3339(utcnow()), "source": "workday",
            "data": {"employee_id": employee_id, "email": f"{employee_id.lower()}@example.com",
                     "display_name": f"Person {employee_id}", "languages": list(languages), "timezone": timezone}}
