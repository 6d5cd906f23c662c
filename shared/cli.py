"""Operator commands: `python -m shared.cli <command>`.

  load-hris FILE         publish HRIS records (JSON lines) to hris.employees.v1, as an HRIS would
  rebuild SERVICE        empty SERVICE's projections and replay its topics from offset 0
                         (stop that service's worker first)
  dev-token SUB ROLE...  print a development JWT signed with JWT_SECRET
  ensure-topics          create the contract topics and their dead-letter topics
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

from shared import topics
from shared.config import Settings
from shared.http.auth import ROLES, mint_token
from shared.kafka import ensure_topics, make_producer


def load_hris(path: str, settings: Settings) -> int:
    """Publish each line as-is (key = employee id), waiting for every acknowledgement."""
    producer = make_producer(settings, linger_ms=20, batch_size=256 * 1024)
    topic = topics.resolve(topics.HRIS_EMPLOYEES, settings.kafka_topic_prefix)
    sent = 0
    futures = []
    with open(path, "rb") as lines:
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                key = json.loads(line)["data"]["employee_id"].encode()
            except (ValueError, KeyError, TypeError):
                key = None  # still published: the consumer dead-letters what it cannot read
            futures.append(producer.send(topic, key=key, value=line))
            sent += 1
    producer.flush(timeout=120)
    for future in futures:
        future.get(timeout=60)
    producer.close()
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load-hris")
    load.add_argument("file")
    rebuild = commands.add_parser("rebuild")
    rebuild.add_argument("service", choices=["matching", "sessions", "feedback", "notifications"])
    token = commands.add_parser("dev-token")
    token.add_argument("subject")
    token.add_argument("roles", nargs="*", default=["participant"], choices=list(ROLES))
    token.add_argument("--ttl", type=int, default=12 * 3600)
    commands.add_parser("ensure-topics")
    args = parser.parse_args(argv)

    if args.command == "dev-token":
        secret = os.environ.get("JWT_SECRET")
        if not secret:
            parser.error("JWT_SECRET is not set")
        print(mint_token(secret, args.subject, args.roles or ["participant"], ttl_s=args.ttl,
                         issuer=os.environ.get("JWT_ISSUER") or None, audience=os.environ.get("JWT_AUDIENCE") or None))
        return 0
    settings = Settings.from_env("cli")
    if args.command == "ensure-topics":
        ensure_topics(settings)
        return 0
    if args.command == "load-hris":
        ensure_topics(settings)
        started = time.perf_counter()
        sent = load_hris(args.file, settings)
        print(f"published {sent} HRIS records to {topics.HRIS_EMPLOYEES} in {time.perf_counter() - started:.1f}s")
        return 0
    if args.command == "rebuild":
        worker_module = importlib.import_module(f"services.{args.service}.worker")
        runner = worker_module.build_consumer(Settings.from_env(args.service))
        started = time.perf_counter()
        applied = runner.rebuild()
        print(f"rebuilt {args.service}: {applied} records replayed in {time.perf_counter() - started:.1f}s")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
