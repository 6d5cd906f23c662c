"""Operator commands: `python -m shared.cli <command>`.

  migrate [SERVICE...]   create the topics (with their retention) and every service's indexes, and
                         rebuild a service's views when this code builds other ones than the live
                         generation's (an upgrade; shared.views_manifest); run before any API serves
                         (make run, the tests, a k8s Job)
  load-hris FILE         publish HRIS records (JSON lines) to hris.employees.v1, as an HRIS would
  rebuild SERVICE        rebuild SERVICE's opted-in projections (`collections`) into a new
                         generation of collections and swap it in while the workers keep running
                         (shared.generations); with --in-place, or when no projection has opted
                         in yet, reset and replay in place (stop that service's worker first)
  dlq redrive TOPIC      re-publish TOPIC's dead letters to TOPIC (once the cause is fixed);
                         progress is the committed offset of group `dlq-redrive.<TOPIC>`
  dev-token SUB ROLE...  print a development JWT signed with JWT_SECRET
  export-person ID [--out FILE]
                         a person's subject access export (GDPR Art. 15): every service's
                         GET /v1/people/ID/export in one JSON file (default export-ID.json, mode
                         0600), called at MATCHING_URL, SESSIONS_URL, ... with MENTORING_TOKEN
                         (an admin's or the person's), or in development a token minted for the person
  ensure-topics          create the contract topics and their dead-letter topics
  kafka-access           as the Kafka super user: every user of shared/kafka_access.py (SCRAM-SHA-512,
                         password KAFKA_<USER>_PASSWORD or its printed development default) and its
                         ACLs; for brokers without Strimzi (docker-compose's kafka-init)
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from shared import topics
from shared.clock import rfc3339
from shared.config import Settings
from shared.http.auth import ROLES, InsecureAuthConfiguration, check_development_secret, mint_token
from shared.kafka import ensure_topics, make_producer, connection_options

SERVICES = ("matching", "sessions", "feedback", "notifications")


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


def migrate(services: list[str], settings: Settings) -> None:
    """Topics first (every service's worker and relay need them), then each service's indexes,
    then its read models: rebuilt when the code builds other views than the live ones."""
    ensure_topics(settings)
    for service in services:
        bootstrap = importlib.import_module(f"services.{service}.bootstrap")
        context = bootstrap.build(Settings.from_env(service))
        context.ensure_indexes()
        print(f"migrated {service}")
        upgrade_views(service, context)


def upgrade_views(service: str, context) -> None:
    """Rebuild `service`'s views when the live generation was built by other code (an upgrade added
    or changed a read model), so no operator has to remember `rebuild` (shared.views_manifest)."""
    from shared import views_manifest
    from shared.generations import Generations, RebuildInProgress
    from shared.projector import own_projections_of

    expected = views_manifest.manifest_of(list(context.projections()) + own_projections_of(context))
    if not expected:
        return
    generation = Generations(context.database).current(fresh=True)
    found = views_manifest.recorded(context.database, generation)
    if found is None and not views_manifest.has_history(context.database):
        views_manifest.record(context.database, generation, expected)  # fresh: the code builds them as it goes
        return
    reasons = views_manifest.differences(expected, found)
    if not reasons:
        return
    print(f"{service}: its views were built by other code ({'; '.join(reasons)}): rebuilding")
    try:
        print(rebuild(service, context=context))
    except RebuildInProgress as exc:  # another migrate (a second replica's Job) is rebuilding them
        print(f"{service}: not rebuilt here: {exc}")


def rebuild(service: str, *, in_place: bool = False, context=None) -> str:
    """Rebuild a service's projections (on `context`, its wiring, else one built from the
    environment); returns a one-line summary."""
    from shared.projector import own_projections_of, rebuild_service

    bootstrap = importlib.import_module(f"services.{service}.bootstrap")
    worker_module = importlib.import_module(f"services.{service}.worker")
    context = context or bootstrap.build(Settings.from_env(service))
    service_settings = context.settings
    runner = worker_module.build_consumer(service_settings, context=context)
    started = time.perf_counter()
    opted_in = [p for p in runner.projections + own_projections_of(context) if p.collections]
    if in_place or not opted_in:
        applied = runner.rebuild()
        return f"rebuilt {service} in place: {applied} records replayed in {time.perf_counter() - started:.1f}s"
    registry = getattr(bootstrap, "registry", None)
    report = rebuild_service(context, runner, registry=registry() if callable(registry) else None)
    summary = (f"rebuilt {service}: generation {report.generation} live ({', '.join(report.collections)}); "
               f"{report.kafka_records} records and {report.store_events} stored events applied in "
               f"{time.perf_counter() - started:.1f}s")
    if report.skipped:
        summary += f"; skipped (no collections: policies or not opted in): {', '.join(report.skipped)}"
    return summary


def redrive(contract_topic: str, settings: Settings, *, timeout_s: float = 10.0) -> int:
    """Re-publish the dead letters of `contract_topic` to it, up to the end offsets seen at start.

    Each record goes back with its key and value, and its original headers without the `dlq.*`
    ones. A record several groups dead-lettered is published once per run. Progress is committed
    to the group `dlq-redrive.<topic>` after the sends are acknowledged, so a second run starts
    where the first stopped (a crash in between republishes a few: consumers are idempotent).
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    contract_topic = contract_topic.removesuffix(".dlq")
    dlq_name = topics.resolve(topics.dlq(contract_topic), settings.kafka_topic_prefix)
    target = topics.resolve(contract_topic, settings.kafka_topic_prefix)
    consumer = KafkaConsumer(**connection_options(settings),
                             group_id=f"{settings.kafka_topic_prefix}dlq-redrive.{contract_topic}", enable_auto_commit=False,
                             auto_offset_reset="earliest", isolation_level="read_committed")
    producer = make_producer(settings)
    sent = 0
    try:
        partitions = [TopicPartition(dlq_name, p) for p in sorted(consumer.partitions_for_topic(dlq_name) or [])]
        if not partitions:
            return 0
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if consumer.position(tp) < ends[tp]}
        seen: set[tuple] = set()
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                deadline = time.monotonic() + timeout_s
                futures, last = [], None
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    last = record.offset
                    headers = dict(record.headers or [])
                    origin = (headers.get("dlq.original.topic"), headers.get("dlq.original.partition"),
                              headers.get("dlq.original.offset"))
                    if origin[2] is not None and origin in seen:
                        continue
                    seen.add(origin)
                    kept = [(k, v) for k, v in (record.headers or []) if not k.startswith("dlq.")]
                    futures.append(producer.send(target, key=record.key, value=record.value, headers=kept or None))
                producer.flush(timeout=60)
                for future in futures:
                    future.get(timeout=60)
                sent += len(futures)
                if last is not None:
                    consumer.commit({tp: OffsetAndMetadata(last + 1, "", -1)})
            for tp in list(remaining):  # by position: a transactional topic ends with a marker
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        if remaining:
            raise RuntimeError(f"redrive stalled before the end of {sorted(str(tp) for tp in remaining)}")
        return sent
    finally:
        producer.close(timeout=10)
        consumer.close(autocommit=False)


class ExportFailed(RuntimeError):
    """A service refused or could not give its part: no file is written (a partial export would
    look complete to the person reading it)."""


def export_token(employee_id: str, settings: Settings) -> str:
    """MENTORING_TOKEN; else, in development only, a short-lived token of the person themselves
    (the least a self-export needs, as `dev-token` mints it)."""
    if settings.mentoring_token:
        return settings.mentoring_token
    if not (settings.development and settings.jwt_secret):
        raise ExportFailed("set MENTORING_TOKEN (an admin's token or the person's own); "
                           "only MENTORING_ENV=development with JWT_SECRET mints one")
    try:
        check_development_secret(settings.jwt_secret)
    except InsecureAuthConfiguration as refused:
        raise ExportFailed(f"no service would accept a minted token: {refused}") from None
    return mint_token(settings.jwt_secret, employee_id, ["participant"], ttl_s=300,
                      issuer=settings.jwt_issuer, audience=settings.jwt_audience)


def export_person(employee_id: str, settings: Settings, *, timeout_s: float = 330.0) -> dict:
    """Every service's export of the person, gathered into one document (docs/api-privacy.md).

    `timeout_s` is a little over the services' own deadline for an export (shared.http.export)."""
    import requests
    from urllib.parse import quote

    token = export_token(employee_id, settings)
    http = requests.Session()
    http.trust_env = False  # the services are addressed directly, as the portal does

    def part(service: str) -> dict:
        url = f"{settings.service_urls[service].rstrip('/')}/v1/people/{quote(employee_id, safe='')}/export"
        try:
            response = http.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s)
        except requests.RequestException as error:
            raise ExportFailed(f"{service} ({url}): {error.__class__.__name__}") from None
        if response.status_code != 200:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise ExportFailed(f"{service} answered {response.status_code}: "
                               f"{problem.get('detail') or problem.get('title') or response.reason}")
        return response.json()

    # All four at once: each service's export is scans of its own views (seconds on FerretDB), so
    # the whole takes as long as the slowest service, not their sum.
    with ThreadPoolExecutor(max_workers=len(SERVICES)) as pool:
        parts = dict(zip(SERVICES, pool.map(part, SERVICES)))
    return {"format": "mentoring.person-export-bundle.v1", "employee_id": employee_id,
            "generated_at": rfc3339(datetime.now(timezone.utc)), "services": parts}


def write_private(path: str, document: dict) -> None:
    """Write atomically, readable by the owner only: the file is a person's whole record."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".export-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, ensure_ascii=False, indent=1, sort_keys=True)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load-hris")
    load.add_argument("file")
    rebuild_cmd = commands.add_parser("rebuild")
    rebuild_cmd.add_argument("service", choices=SERVICES)
    rebuild_cmd.add_argument("--in-place", action="store_true", help="legacy: reset and replay (worker stopped)")
    migrate_cmd = commands.add_parser("migrate")
    migrate_cmd.add_argument("services", nargs="*", metavar="SERVICE", help=f"default: all of {', '.join(SERVICES)}")
    dlq = commands.add_parser("dlq")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    redrive_cmd = dlq_commands.add_parser("redrive")
    redrive_cmd.add_argument("topic", help="a contract topic (or its .dlq name)")
    token = commands.add_parser("dev-token")
    token.add_argument("subject")
    # no argparse `choices` here: with nargs="*" it refuses an empty list (Python < 3.12)
    token.add_argument("roles", nargs="*", metavar="ROLE", help=f"{', '.join(ROLES)} (default: participant)")
    token.add_argument("--ttl", type=int, default=None, help="seconds (default and most: JWT_MAX_LIFETIME_S)")
    commands.add_parser("ensure-topics")
    commands.add_parser("kafka-access")
    export_cmd = commands.add_parser("export-person")
    export_cmd.add_argument("employee_id")
    export_cmd.add_argument("--out", default=None, help="file to write (default: export-<employee_id>.json)")
    args = parser.parse_args(argv)

    settings = Settings.from_env("cli")
    if args.command == "dev-token":
        if not settings.jwt_secret:
            parser.error("JWT_SECRET is not set")
        unknown = [role for role in args.roles if role not in ROLES]
        if unknown:
            parser.error(f"unknown roles: {', '.join(unknown)} (choose from {', '.join(ROLES)})")
        try:
            check_development_secret(settings.jwt_secret)
        except InsecureAuthConfiguration as refused:
            parser.error(f"no service would accept this token: {refused}")
        longest = int(settings.jwt_max_lifetime_s)
        if args.ttl is not None and not 0 < args.ttl <= longest:
            parser.error(f"--ttl must be between 1 and {longest} seconds (JWT_MAX_LIFETIME_S)")
        print(mint_token(settings.jwt_secret, args.subject, args.roles or ["participant"], ttl_s=args.ttl or longest,
                         issuer=settings.jwt_issuer, audience=settings.jwt_audience))
        return 0
    if args.command == "migrate":
        unknown = [s for s in args.services if s not in SERVICES]
        if unknown:
            parser.error(f"unknown services: {', '.join(unknown)}")
        migrate(args.services or list(SERVICES), settings)
        return 0
    if args.command == "dlq":
        sent = redrive(args.topic, settings)
        print(f"redrove {sent} dead letters to {args.topic.removesuffix('.dlq')}")
        return 0
    if args.command == "ensure-topics":
        ensure_topics(settings)
        return 0
    if args.command == "kafka-access":
        from shared import kafka_access

        kafka_access.ensure_users_and_acls(settings)
        print(f"Kafka users and ACLs in force: {', '.join(u for u in kafka_access.USERS if u != kafka_access.ADMIN)}")
        return 0
    if args.command == "load-hris":
        ensure_topics(settings)
        started = time.perf_counter()
        sent = load_hris(args.file, settings)
        print(f"published {sent} HRIS records to {topics.HRIS_EMPLOYEES} in {time.perf_counter() - started:.1f}s")
        return 0
    if args.command == "export-person":
        try:
            document = export_person(args.employee_id, settings)
        except ExportFailed as failed:
            print(f"export of {args.employee_id} failed, nothing written: {failed}", file=sys.stderr)
            return 1
        path = args.out or f"export-{args.employee_id}.json"
        write_private(path, document)
        counts = ", ".join(f"{name}: {len(part.get('events', []))} events" for name, part in document["services"].items())
        print(f"wrote {path} ({counts})")
        return 0
    if args.command == "rebuild":
        print(rebuild(args.service, in_place=args.in_place))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
