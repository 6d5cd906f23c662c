"""Notifications: deliveries per second of one worker's senders into a local aiosmtpd server,
beside a raw `smtplib` loop sending the same number of messages on one connection to the same server.

N email deliveries (`BENCH_NOTIFICATIONS`, default 5,000; to 500 people, inbox turned off so every
delivery is an email) are enqueued first, as the consumer would (delivery documents and queue
entries, handed to the senders with the consumer's person and preference look-ups); the clock then
runs from the senders' start until every delivery is recorded `sent` with its outcome event. The
SMTP server runs in a process of its own (aiosmtpd's Sink handler), so it takes no share of the
worker's interpreter lock. The baseline pays only SMTP: pre-built message bytes, one connection.

    python -m bench --only notifications
    python bench/bench_notifications.py [N]   (one run, JSON; also against older code)
"""
from __future__ import annotations

import json
import os
import smtplib
import socket
import subprocess
import sys
import time
from dataclasses import replace
from email.message import EmailMessage

from bench.harness import drop, isolated_settings, new_run
from shared.clock import rfc3339, utcnow

NOTIFICATIONS = int(os.environ.get("BENCH_NOTIFICATIONS", "5000"))
PEOPLE = 500
CATEGORY = "pairing_proposed"


class SmtpServer:
    """aiosmtpd in its own process on a free loopback port, accepting and discarding every message."""

    def __init__(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "SmtpServer":
        self.process = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                                         "-l", f"127.0.0.1:{self.port}"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("aiosmtpd did not start")

    def __exit__(self, *exc):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


def raw_smtplib_rate(server: SmtpServer, count: int) -> float:
    """Messages per second of a bare smtplib loop on one connection (messages built beforehand)."""
    messages = []
    for i in range(count):
        mail = EmailMessage()
        mail["Subject"], mail["From"], mail["To"] = f"Bench {i}", "mentoring@localhost", f"p{i % PEOPLE}@example.com"
        mail["Message-ID"] = f"<bench-{i}@mentoring.notifications>"
        mail.set_content("You have a new mentoring proposal.\n" * 10)
        messages.append((mail["To"], mail.as_bytes()))
    client = smtplib.SMTP("127.0.0.1", server.port, timeout=30)
    started = time.perf_counter()
    for to, raw in messages:
        client.sendmail("mentoring@localhost", [to], raw)
    elapsed = time.perf_counter() - started
    client.quit()
    return count / elapsed


def worker_rate(server: SmtpServer, count: int) -> dict:
    """Deliveries per second of one notifications worker's sender pool (its settings' threads and batch)."""
    from services.notifications import bootstrap
    from services.notifications.application.delivery import Source
    from services.notifications.domain.routing import Intent

    run = new_run()
    settings = replace(isolated_settings("notifications", run), smtp_url=server.url)
    context = bootstrap.build(settings)
    try:
        context.ensure_indexes()
        people = [f"N{i:05d}" for i in range(PEOPLE)]
        context.database["people"].insert_many([
            {"_id": p, "employee_id": p, "email": f"{p.lower()}@example.com", "display_name": f"Person {p}",
             "timezone": "Europe/London", "languages": ["en"], "status": "active", "version": 1} for p in people])
        context.database["preferences"].insert_many([{"_id": p, "channels": {CATEGORY: {"inapp": False}}} for p in people])
        handed: list = []
        context.enqueuer.handoff = lambda doc, looked_up: handed.append((doc, looked_up))
        answer_by = rfc3339(utcnow())
        for first in range(0, count, PEOPLE):
            event_id = f"bench-{run}-{first}"
            source = Source(event_id, "PairingProposed", rfc3339(utcnow()), 1, event_id)
            intents = [Intent(recipient_id=people[i % PEOPLE], category=CATEGORY, dedupe_key=f"{event_id}-{i}",
                              role="mentor", context={"pairing_id": f"P{i}", "other_id": people[(i + 1) % PEOPLE],
                                                      "mentor_id": people[i % PEOPLE], "answer_by": answer_by})
                       for i in range(first, min(count, first + PEOPLE))]
            context.enqueuer.notify(intents, source)
        senders = context.senders
        started = time.perf_counter()
        for doc, looked_up in handed:
            senders.submit(doc, looked_up)
        senders.start()
        deadline = time.monotonic() + 900
        while senders.backlog() and time.monotonic() < deadline:
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        senders.stop()
        sent = context.database["deliveries"].count_documents({"status": "sent"})
        return {"deliveries": len(handed), "sent": sent, "seconds": round(elapsed, 2),
                "per_s": round(sent / elapsed, 1), "threads": senders.threads, "batch": senders.batch}
    finally:
        drop(settings)


def run() -> list[dict]:
    with SmtpServer() as server:
        raw = raw_smtplib_rate(server, NOTIFICATIONS)
        worker = worker_rate(server, NOTIFICATIONS)
    return [{"benchmark": f"notifications: emails delivered/s, one worker ({NOTIFICATIONS})", "unit": "msg/s",
             "value": worker["per_s"], "baseline": "raw smtplib loop, one connection",
             "baseline_value": round(raw, 1), "ratio": round(worker["per_s"] / raw, 3),
             "note": f"{worker['sent']}/{worker['deliveries']} sent in {worker['seconds']} s, "
                     f"{worker['threads']} sender threads, batches of {worker['batch']}"}]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
