"""Deliveries per second of one notifications worker into a local SMTP server (issue 16 wants >= 500/s).

    .venv/bin/python -m tests.integration.notifications.throughput [events]

Each event is a `PairingProposed` for a new pair: 2 recipients x (email + inbox) = 4 deliveries,
2 of them emails. Events are fed straight into the projection (no Kafka: this measures the
delivery path, not the consumer), then the clock runs until the SMTP server has every email and
every delivery is recorded. Works against the old synchronous code too (no `senders` there).
Also counts MongoDB round trips per delivery (by command), which a loaded machine cannot blur.
"""
from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import timedelta

from collections import Counter

from pymongo import monitoring

from shared.clock import rfc3339, utcnow
from shared.config import Settings
from shared.mongo import client_for
from services.notifications import bootstrap
from tests.integration.notifications.servers import SmtpSink, envelope, person


class _Commands(monitoring.CommandListener):
    def __init__(self):
        self.counts: Counter = Counter()
        self.on = False

    def started(self, event):
        if self.on and event.command_name not in ("hello", "isMaster", "ping", "endSessions"):
            self.counts[event.command_name] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


COMMANDS = _Commands()
monitoring.register(COMMANDS)  # before the first client is made


def _feed(context, raw: dict, *, hris: bool = False) -> None:
    decoded = bootstrap.registry().decode(json.dumps(raw).encode(), inbound_hris=hris)
    projections = context.projections() if hasattr(context, "senders") else [context.projection]
    for projection in projections:
        handler = projection.handlers().get(decoded.event_type)
        if handler is not None:
            handler(decoded)


def measure(events: int = 300, *, mongo_url: str = "mongodb://127.0.0.1:27017/", threads: int = 4) -> dict:
    with SmtpSink() as smtp:
        options = {"notifications_sender_threads": threads} if hasattr(Settings, "notifications_sender_threads") else {}
        settings = Settings(service_name="notifications", mongo_url=mongo_url,
                            mongo_database=f"bench_notifications_{uuid.uuid4().hex[:8]}", smtp_url=smtp.url,
                            jwt_secret="bench", **options)
        context = bootstrap.build(settings)
        context.ensure_indexes()
        try:
            for i in range(2 * events):
                _feed(context, person(f"B{i:05d}"), hris=True)
            answer_by = rfc3339(utcnow() + timedelta(days=7))
            records = [envelope("PairingProposed", {"pairing_id": f"P{i}", "cohort_id": "C1", "mentor_id": f"B{2 * i:05d}",
                                                    "mentee_id": f"B{2 * i + 1:05d}", "score": 0.5, "reasons": [],
                                                    "proposed_by": "algorithm", "matching_run_id": None,
                                                    "answer_by": answer_by},
                                producer="matching", aggregate_type="pairing", aggregate_id=f"P{i}")
                       for i in range(events)]
            senders = getattr(context, "senders", None)
            COMMANDS.counts.clear()
            COMMANDS.on = True
            started = time.perf_counter()
            if senders is not None:
                senders.start()
            for record in records:
                _feed(context, record)
            fed = time.perf_counter() - started
            deadline = time.monotonic() + 600
            while len(smtp.messages) < 2 * events and time.monotonic() < deadline:
                time.sleep(0.01)
            if senders is not None:
                while senders.backlog() and time.monotonic() < deadline:
                    time.sleep(0.01)
            elapsed = time.perf_counter() - started
            COMMANDS.on = False
            if senders is not None:
                senders.stop()
            deliveries = 4 * events
            return {"events": events, "deliveries": deliveries, "emails": len(smtp.messages),
                    "consumer_s": round(fed, 2), "total_s": round(elapsed, 2),
                    "deliveries_per_s": round(deliveries / elapsed, 1),
                    "emails_per_s": round(len(smtp.messages) / elapsed, 1),
                    "mongo_commands_per_delivery": round(sum(COMMANDS.counts.values()) / deliveries, 2),
                    "by_command": {name: round(n / deliveries, 2) for name, n in COMMANDS.counts.most_common()},
                    "smtp_connections": getattr(smtp, "connections", None)}
        finally:
            client_for(settings.mongo_url).drop_database(settings.database)


if __name__ == "__main__":
    print(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 300,
                  threads=int(sys.argv[2]) if len(sys.argv) > 2 else 4))
