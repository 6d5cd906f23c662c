"""`make simulate`: a year in the life of an organisation, as load on the public APIs.

    python -m scripts.simulate --employees 5000 --weeks 52 --seed 1 --report bench/results/simulate.json

An HRIS-shaped organisation (scripts/gen_org.py, cached in bench/results/data/) is published to the
HRIS topic, then, week by simulated week, everybody does through the four services' HTTP APIs (dev
tokens, as the tests do) what a real organisation does: programme admins open cohorts spread over the
year (enrolment in one bulk request, a matching run, everyone answering: most accept, some decline,
the cohort goes active, and closes after `--cohort-weeks`); pairs schedule and hold meetings every
`--cadence-weeks`, revise goals, rate meetings and send kudos; people look at their pairings and
inboxes and admins at their cohorts' engagement. The HRIS terminates people through the year (some of
them in running pairings) and rehires some of them weeks later.

Time: the simulated year is the one ending today, so a meeting is held at its simulated date (the
services refuse a meeting held in the future); what the services stamp themselves (pairings
activated, answers) is real time. The time-based jobs (at-risk pairings, progress reviews and
cohort surveys, overdue proposals, notification reminders) run once per simulated week, in this
process, on a `ManualClock` set to that week's end.

It reports per route throughput (requests per second while that route was being driven, at
`--threads` concurrent clients) and p50/p95/p99 latency, each worker's consumer lag after every week,
the HRIS load's apply rate per service, and at the end checks that every service's live projections
equal a rebuild (shared/consistency.py, what the fault suite checks), whose replay rate it reports
too. Exit status 1 when a projection differs from its rebuild or an API answered 5xx.
Everything runs in a database and topic prefix of the run's own, dropped at the end (`--keep` keeps them).
"""
from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import requests
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from scripts import gen_org
from shared import consistency, topics
from shared.clock import ManualClock, rfc3339, utcnow
from shared.config import Settings, act_as_local_kafka_admin
from shared.http.auth import mint_token
from shared.kafka import connection_options, ensure_topics
from shared.mongo import client_for, database_for

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("matching", "sessions", "feedback", "notifications")
ADMIN = "E000001"  # the organisation's first employee (gen_org's CEO) runs the programmes
PROGRAMME_NAMES = ["Engineering growth", "Sales mentoring", "New managers", "Women in leadership", "Data guild",
                   "Customer success circle", "Product craft", "Reverse mentoring", "Finance foundations",
                   "Design critique"]


@dataclass
class Options:
    employees: int = 5000
    weeks: int = 52
    seed: int = 1
    programmes: int = 8
    cohorts: int = 40
    enrol_share: float = 0.02    # employees enrolled over the year, across all cohorts (FerretDB: keep it small)
    cohort_weeks: int = 26       # how long a cohort runs
    cadence_weeks: int = 4       # a pair meets every this many weeks
    attrition: float = 0.08      # employees the HRIS terminates per year
    rehire_share: float = 0.25   # of those terminated, rehired 4-12 weeks later
    threads: int = 8             # concurrent clients
    report: str | None = None
    keep: bool = False
    data: str | None = None      # where the organisation's files are generated (default bench/results/data/)

    def scaled(self) -> "Options":
        """Fewer programmes and cohorts for a small organisation: at least ~12 people per cohort."""
        enrolled = max(1, int(self.employees * self.enrol_share))
        cohorts = max(1, min(self.cohorts, enrolled // 12))
        return replace(self, cohorts=cohorts, programmes=max(1, min(self.programmes, cohorts)))


# -- what was measured ----------------------------------------------------------------------------

@dataclass
class RouteStats:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    busy_s: float = 0.0


class Recorder:
    """Latency and status of every request, by route template; wall time a route was driven."""

    def __init__(self) -> None:
        self.routes: dict[str, RouteStats] = defaultdict(RouteStats)
        self.lock = threading.Lock()

    def record(self, route: str, seconds: float, status: int) -> None:
        with self.lock:
            stats = self.routes[route]
            stats.latencies.append(seconds)
            stats.statuses[status] += 1

    def busy(self, route: str, seconds: float) -> None:
        with self.lock:
            self.routes[route].busy_s += seconds

    def table(self) -> list[dict]:
        rows = []
        for route, stats in sorted(self.routes.items()):
            cuts = percentiles(stats.latencies)
            rows.append({"route": route, "requests": len(stats.latencies),
                         "per_s": round(len(stats.latencies) / stats.busy_s, 1) if stats.busy_s else None,
                         "p50_ms": cuts["p50"], "p95_ms": cuts["p95"], "p99_ms": cuts["p99"],
                         "statuses": {str(k): v for k, v in sorted(stats.statuses.items())}})
        return rows

    def server_errors(self) -> int:
        return sum(n for s in self.routes.values() for code, n in s.statuses.items() if code >= 500 or code == 0)


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None}

    def cut(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50": cut(0.50), "p95": cut(0.95), "p99": cut(0.99)}


# -- the services, as processes -------------------------------------------------------------------

def run_settings(service: str, run_id: str) -> Settings:
    """The environment's servers, a database and topic prefix of the run's own. A development
    secret of the run's own unless JWT_SECRET is set (the services refuse published ones)."""
    base = Settings.from_env(service)
    return replace(base, service_name=service, mongo_database=f"sim_{run_id}_{service}",
                   kafka_topic_prefix=f"sim{run_id}.", environment="development",
                   jwt_secret=base.jwt_secret or run_id_secret(run_id))


_SECRETS: dict[str, str] = {}


def run_id_secret(run_id: str) -> str:
    return _SECRETS.setdefault(run_id, secrets.token_urlsafe(32))


class Stack:
    """Every service's API and worker (gunicorn and `python -m services.<svc>.worker`, started as the
    benchmarks and e2e tests start them, after `shared.cli migrate`) in the run's own database and
    topic prefix, and a local SMTP server the notifications are delivered to."""

    def __init__(self, run_id: str, workdir: Path):
        from tests.e2e.processes import SmtpSink

        act_as_local_kafka_admin()  # the project's own broker, as its super user (as `make bench` does)
        self.settings = {s: run_settings(s, run_id) for s in SERVICES}
        self.secret = self.settings["matching"].jwt_secret
        self.workdir = workdir
        self.smtp = SmtpSink()
        self.processes: list = []
        self.bases: dict[str, str] = {}

    def start(self) -> "Stack":
        from tests.e2e.processes import service_env, start_api, start_worker

        ensure_topics(self.settings["matching"])
        self.smtp.start()
        envs = {s: service_env(self.settings[s], self.workdir,
                               **({"SMTP_URL": self.smtp.url} if s == "notifications" else {}))
                for s in SERVICES}
        errors: list[BaseException] = []
        lock = threading.Lock()

        def up(service: str) -> None:
            try:
                worker = start_worker(service, envs[service], self.workdir)
                with lock:
                    self.processes.append(worker)
                api, base = start_api(service, envs[service], self.workdir, timeout_s=240)
                with lock:
                    self.processes.append(api)
                    self.bases[service] = base
            except BaseException as exc:  # noqa: BLE001 - raised below, once every start was tried
                errors.append(exc)

        starting = [threading.Thread(target=up, args=(s,)) for s in SERVICES]
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join()
        if errors:
            self.stop()
            raise errors[0]
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self.processes = []
        self.smtp.stop()

    def drop(self) -> None:
        """The run's databases and topics (a broker keeping every run's topics ends up not starting)."""
        from kafka import KafkaAdminClient

        for settings in self.settings.values():
            client_for(settings.mongo_url).drop_database(settings.database)
        settings = self.settings["matching"]
        admin = KafkaAdminClient(**connection_options(settings), request_timeout_ms=30000)
        try:
            names = [n for n in admin.list_topics() if n.startswith(settings.kafka_topic_prefix)]
            if names:
                admin.delete_topics(names, timeout_ms=30000)
        finally:
            admin.close()


# -- HTTP as the organisation's people ------------------------------------------------------------

class Api:
    """Requests as one person or another (a development token each), timed by route."""

    def __init__(self, bases: dict[str, str], secret: str, recorder: Recorder):
        self.bases, self.secret, self.recorder = bases, secret, recorder
        self.tokens: dict[str, str] = {}
        self.local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        return session

    def token(self, subject: str) -> str:
        if subject not in self.tokens:
            roles = ["admin", "participant"] if subject == ADMIN else ["participant"]
            self.tokens[subject] = mint_token(self.secret, subject, roles)
        return self.tokens[subject]

    def call(self, method: str, service: str, route: str, path: str, subject: str, *, json_body=None,
             params=None) -> tuple[int, dict]:
        """(status, body); status 0 for a request that got no answer at all."""
        started = time.perf_counter()
        try:
            response = self._session().request(
                method, f"{self.bases[service]}{path}", json=json_body, params=params, timeout=120,
                headers={"Authorization": f"Bearer {self.token(subject)}"})
            status = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = {}
        except requests.RequestException:
            status, body = 0, {}
        self.recorder.record(f"{method} {service} {route}", time.perf_counter() - started, status)
        return status, body if isinstance(body, dict) else {"items": body}


# -- the organisation ---------------------------------------------------------------------------

@dataclass
class Pairing:
    pairing_id: str
    cohort_id: str
    mentor_id: str
    mentee_id: str
    phase: int                   # the week within its cadence this pair meets
    active: bool = True
    goals_revision: int | None = None
    held: list[str] = field(default_factory=list)  # meetings held, oldest first
    unrated: list[tuple[str, int]] = field(default_factory=list)  # (meeting, the week it was held)


@dataclass
class Cohort:
    index: int
    programme: int
    start_week: int
    end_week: int                # closes at the start of this week (never within the run: stays active)
    cohort_id: str | None = None
    members: list[str] = field(default_factory=list)


class Organisation:
    """The simulated organisation: its people (the HRIS file), its plan of cohorts, and what the
    people know (their pairings, meetings, goals' revision)."""

    def __init__(self, options: Options, people: list[dict], start: date):
        self.options, self.people, self.start = options, people, start
        self.rng = random.Random(options.seed)
        self.by_id = {p["employee_id"]: p for p in people}
        self.terminated: set[str] = set()
        self.pairings: dict[str, Pairing] = {}
        self.programmes: list[str] = []
        self.rehires: dict[int, list[str]] = defaultdict(list)
        span = max(1, (options.weeks + 1) // 2)  # cohorts open over the first half of the year
        self.cohorts = [Cohort(index=i, programme=i % options.programmes, start_week=(i * span) // options.cohorts,
                               end_week=(i * span) // options.cohorts + options.cohort_weeks)
                        for i in range(options.cohorts)]
        self.per_cohort = max(4, int(options.employees * options.enrol_share) // options.cohorts)

    def day(self, week: int, offset_days: float = 0) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, 9, tzinfo=timezone.utc) + timedelta(
            weeks=week, days=offset_days)

    def busy(self) -> set[str]:
        return {x for p in self.pairings.values() if p.active for x in (p.mentor_id, p.mentee_id)}

    def enrolment_rows(self) -> list[dict]:
        """A cohort's enrolment: people neither terminated nor in a running pairing, a mentor for
        every three mentees (gen_org's shapes: capacity, topics, preferences)."""
        taken = self.busy() | self.terminated | {ADMIN}
        free = [p for p in self.people if p["employee_id"] not in taken]
        self.rng.shuffle(free)
        mentors = max(1, self.per_cohort // 4)
        return gen_org.enrollments(free[: self.per_cohort * 3], self.per_cohort - mentors, mentors, self.rng)

    def leavers(self, week: int) -> list[str]:
        """This week's terminations (attrition spread over the year), never the admin."""
        weekly = self.options.attrition * self.options.employees / 52
        count = int(weekly) + (1 if self.rng.random() < weekly - int(weekly) else 0)
        staying = [p["employee_id"] for p in self.people if p["employee_id"] not in self.terminated
                   and p["employee_id"] != ADMIN]
        # people in running pairings leave as often as anyone else: their pairings end
        chosen = self.rng.sample(staying, min(count, len(staying)))
        for employee_id in chosen:
            if self.rng.random() < self.options.rehire_share:
                self.rehires[week + self.rng.randint(4, 12)].append(employee_id)
        return chosen


def hris_record(event_type: str, data: dict) -> dict:
    """An HRIS record as the HRIS publishes it: stamped with real time (the newest record wins)."""
    return {"event_id": str(uuid.uuid4()), "event_type": event_type, "schema_version": 1,
            "occurred_at": rfc3339(utcnow()), "source": "workday", "data": data}


def publish_hris(settings: Settings, records: list[dict]) -> None:
    if not records:
        return
    producer = KafkaProducer(**connection_options(settings), acks="all")
    name = topics.resolve(topics.HRIS_EMPLOYEES, settings.kafka_topic_prefix)
    futures = [producer.send(name, key=r["data"]["employee_id"].encode(), value=json.dumps(r).encode())
               for r in records]
    producer.flush(timeout=60)
    for future in futures:
        future.get(timeout=60)
    producer.close()


# -- the time-based jobs, on the simulated week's clock ---------------------------------------------

class Jobs:
    """What the workers run on a timer, run here once per simulated week on a ManualClock: the
    same code (each service's context built in this process), so weeks can pass in seconds."""

    def __init__(self, stack: Stack, clock: ManualClock):
        import importlib

        self.clock = clock
        built = {s: importlib.import_module(f"services.{s}.bootstrap").build(stack.settings[s], clock=clock)
                 for s in SERVICES}
        self.jobs: dict[str, Callable[[], object]] = {
            "matching expire-proposals": built["matching"].commands.expire_overdue,
            "sessions risk-check": built["sessions"].risk.run,
            "feedback progress-reviews": built["feedback"].commands.request_due_reviews,
            "feedback cohort-surveys": built["feedback"].commands.request_due_surveys,
            "notifications reminders": built["notifications"].reminders.send_due,
        }
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.failures: dict[str, str] = {}

    def run(self, moment: datetime) -> None:
        self.clock.set(moment)
        for name, job in self.jobs.items():
            started = time.perf_counter()
            try:
                job()
            except Exception as exc:  # noqa: BLE001 - a job's failure is reported, the year goes on
                self.failures[name] = f"{type(exc).__name__}: {exc}"
            self.seconds[name].append(time.perf_counter() - started)


# -- consumer lag ---------------------------------------------------------------------------------

class Lag:
    """Each service's records not yet applied (broker end offsets minus the consumer group's
    watermarks, over the topics it reads) and own-stream commits not yet projected, sampled weekly.
    Transactional topics end with commit markers, so a settled group can show a few records here."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.samples: dict[str, list[int]] = defaultdict(list)
        self.store: dict[str, list[int]] = defaultdict(list)
        settings = stack.settings["matching"]
        self.consumer = KafkaConsumer(**connection_options(settings), group_id=None, enable_auto_commit=False)
        self.partitions = {}
        for service in SERVICES:
            names = [topics.resolve(t, settings.kafka_topic_prefix) for t in consistency.consumed_topics(service)]
            self.partitions[service] = [TopicPartition(n, p) for n in names
                                        for p in sorted(self.consumer.partitions_for_topic(n) or [])]

    def end_offsets(self, service: str) -> dict:
        for attempt in range(5):
            try:
                return self.consumer.end_offsets(self.partitions[service])
            except (KeyError, KafkaError):  # kafka-python's offset lookup fails now and then on a busy broker
                time.sleep(0.5 * (attempt + 1))
        return {}

    def sample(self) -> dict[str, int]:
        now = {}
        for service in SERVICES:
            settings = self.stack.settings[service]
            ends = self.end_offsets(service)
            if not ends:
                continue
            behind = consistency.lagging(settings, consistency.consumer_group(service),
                                         {(tp.topic, tp.partition): end for tp, end in ends.items()})
            now[service] = sum(behind.values())
            self.samples[service].append(now[service])
            self.store[service].append(consistency.store_backlog(settings))
        return now

    def summary(self) -> dict:
        return {s: {"kafka_max": max(self.samples[s], default=0), "kafka_last": (self.samples[s] or [0])[-1],
                    "store_max": max(self.store[s], default=0), "store_last": (self.store[s] or [0])[-1]}
                for s in SERVICES}

    def close(self) -> None:
        self.consumer.close()


# -- a year, week by week -------------------------------------------------------------------------

class Simulation:
    def __init__(self, options: Options, stack: Stack, people: list[dict], hris_file: Path):
        self.options, self.stack, self.hris_file = options, stack, hris_file
        self.recorder = Recorder()
        self.api = Api(stack.bases, stack.secret, self.recorder)
        today = utcnow().date()
        self.org = Organisation(options, people, today - timedelta(weeks=options.weeks))
        self.pool = ThreadPoolExecutor(options.threads)
        self.log: list[str] = []
        self.ingest: dict[str, dict] = {}

    def say(self, line: str) -> None:
        self.log.append(line)
        print(line, flush=True)

    def each(self, route: str, items: list, work: Callable) -> list:
        """`work(item)` for every item on the client threads; the route's driven time is the batch's."""
        if not items:
            return []
        started = time.perf_counter()
        results = list(self.pool.map(work, items))
        self.recorder.busy(route, time.perf_counter() - started)
        return results

    def one(self, method: str, service: str, route: str, path: str, subject: str = ADMIN, **kwargs):
        started = time.perf_counter()
        out = self.api.call(method, service, route, path, subject, **kwargs)
        self.recorder.busy(f"{method} {service} {route}", time.perf_counter() - started)
        return out

    # -- the HRIS load --------------------------------------------------------------------------
    def load_hris(self) -> None:
        from shared.cli import load_hris

        started = time.perf_counter()
        sent = load_hris(str(self.hris_file), self.stack.settings["matching"])
        published = time.perf_counter() - started
        waiting = {s: self.pool.submit(self._settle, s, started) for s in SERVICES}
        for service, future in waiting.items():
            behind, seconds = future.result()
            self.ingest[service] = {"records": sent, "seconds": round(seconds, 1),
                                    "per_s": round(sent / seconds, 1) if seconds else None,
                                    "still_behind": behind}
        self.say(f"HRIS: {sent} records published in {published:.1f} s; applied: "
                 + ", ".join(f"{s} {v['seconds']} s ({v['per_s']}/s)" for s, v in self.ingest.items()))

    def _settle(self, service: str, started: float) -> tuple[dict, float]:
        behind = consistency.wait_settled(self.stack.settings[service], timeout_s=3600)
        return behind, time.perf_counter() - started

    # -- the year -------------------------------------------------------------------------------
    def run(self) -> None:
        org = self.org
        for i in range(self.options.programmes):
            name = PROGRAMME_NAMES[i % len(PROGRAMME_NAMES)] + ("" if i < len(PROGRAMME_NAMES) else f" {i}")
            status, body = self.one("POST", "matching", "/v1/programs", "/v1/programs", json_body={"name": name})
            org.programmes.append(body.get("program_id", ""))
        jobs, lag = Jobs(self.stack, ManualClock(org.day(0))), Lag(self.stack)
        try:
            for week in range(self.options.weeks):
                started = time.perf_counter()
                self.hris_changes(week)
                for cohort in org.cohorts:
                    if cohort.end_week == week and cohort.cohort_id:
                        self.close(cohort)
                for cohort in org.cohorts:
                    if cohort.start_week == week:
                        self.open_cohort(cohort, week)
                # the pairs' week, the readers' and the timers' run side by side, as they would
                with ThreadPoolExecutor(3) as week_pool:
                    for done in [week_pool.submit(self.pairs_week, week), week_pool.submit(self.reads, week),
                                 week_pool.submit(jobs.run, org.day(week, 6.5))]:
                        done.result()
                behind = lag.sample()
                self.say(f"week {week + 1}/{self.options.weeks} ({org.day(week).date()}): "
                         f"{sum(p.active for p in org.pairings.values())} active pairings, "
                         f"{time.perf_counter() - started:.1f} s, lag " + ", ".join(f"{s} {n}" for s, n in behind.items()))
            self.jobs_report = {"seconds": {k: round(sum(v), 2) for k, v in jobs.seconds.items()},
                                "failures": jobs.failures}
            self.lag_report = lag.summary()
        finally:
            lag.close()

    def hris_changes(self, week: int) -> None:
        org = self.org
        leavers = org.leavers(week)
        records = [hris_record("EmployeeTerminated", {"employee_id": e, "terminated_on": org.day(week, 2).date().isoformat()})
                   for e in leavers]
        back = [e for e in org.rehires.pop(week, []) if e in org.terminated]
        records += [hris_record("EmployeeUpserted", dict(org.by_id[e], hire_date=org.day(week, 1).date().isoformat()))
                    for e in back]
        publish_hris(self.stack.settings["matching"], records)
        org.terminated |= set(leavers)
        org.terminated -= set(back)
        for pairing in org.pairings.values():  # matching ends a leaver's pairings (its HRIS policy)
            if pairing.active and (pairing.mentor_id in org.terminated or pairing.mentee_id in org.terminated):
                pairing.active = False
        self.terminations = getattr(self, "terminations", 0) + len(leavers)
        self.rehired = getattr(self, "rehired", 0) + len(back)

    def open_cohort(self, cohort: Cohort, week: int) -> None:
        org, opts = self.org, self.options
        starts = org.day(week).date()
        program_id = org.programmes[cohort.programme]
        status, body = self.one("POST", "matching", "/v1/programs/{id}/cohorts", f"/v1/programs/{program_id}/cohorts",
                                json_body={"name": f"Cohort {cohort.index + 1}", "starts_on": starts.isoformat(),
                                           "ends_on": (starts + timedelta(weeks=opts.cohort_weeks)).isoformat(),
                                           "meeting_cadence_days": 7 * opts.cadence_weeks})
        if status != 201:
            self.say(f"cohort {cohort.index + 1} not created: {status} {body}")
            return
        cohort_id = cohort.cohort_id = body["cohort_id"]
        self.one("POST", "matching", "/v1/cohorts/{id}/status", f"/v1/cohorts/{cohort_id}/status",
                 json_body={"status": "enrolling"})
        rows = org.enrolment_rows()
        status, body = self.one("POST", "matching", "/v1/cohorts/{id}/enrollments (bulk)",
                                f"/v1/cohorts/{cohort_id}/enrollments", json_body=rows)
        cohort.members = [r["employee_id"] for r in rows]
        self.one("POST", "matching", "/v1/cohorts/{id}/status", f"/v1/cohorts/{cohort_id}/status",
                 json_body={"status": "matching"})
        status, run = self.one("POST", "matching", "/v1/cohorts/{id}/matching-runs",
                               f"/v1/cohorts/{cohort_id}/matching-runs", json_body={"mode": "maximize_score"})
        deadline = time.monotonic() + 600
        while status == 202 and run.get("status") == "running" and time.monotonic() < deadline:
            time.sleep(0.5)
            status, run = self.one("GET", "matching", "/v1/matching-runs/{id}", f"/v1/matching-runs/{run['run_id']}")
            status = 202 if status == 200 else status
        proposed = self.proposed(cohort_id)
        # mentors answer first, then the mentees of the pairings their mentor accepted: no two
        # answers race on one pairing
        rng = org.rng
        mentor_yes = [p for p in proposed if rng.random() >= 0.05]
        mentor_no = [p for p in proposed if p not in mentor_yes]
        self.each("POST matching /v1/pairings/{id}/decline", mentor_no, lambda p: self.api.call(
            "POST", "matching", "/v1/pairings/{id}/decline", f"/v1/pairings/{p['pairing_id']}/decline",
            p["mentor_id"], json_body={"reason": "no_time"}))
        answers = self.each("POST matching /v1/pairings/{id}/accept", mentor_yes, lambda p: self.api.call(
            "POST", "matching", "/v1/pairings/{id}/accept", f"/v1/pairings/{p['pairing_id']}/accept", p["mentor_id"],
            json_body={}))
        accepted = [p for p, (code, _) in zip(mentor_yes, answers) if code == 200]
        mentee_yes = [p for p in accepted if rng.random() >= 0.08]
        mentee_no = [p for p in accepted if p not in mentee_yes]
        self.each("POST matching /v1/pairings/{id}/decline", mentee_no, lambda p: self.api.call(
            "POST", "matching", "/v1/pairings/{id}/decline", f"/v1/pairings/{p['pairing_id']}/decline",
            p["mentee_id"], json_body={"reason": "not_a_fit"}))
        answers = self.each("POST matching /v1/pairings/{id}/accept", mentee_yes, lambda p: self.api.call(
            "POST", "matching", "/v1/pairings/{id}/accept", f"/v1/pairings/{p['pairing_id']}/accept", p["mentee_id"],
            json_body={}))
        for p, (code, body) in zip(mentee_yes, answers):
            if code == 200 and body.get("status") == "active":
                org.pairings[p["pairing_id"]] = Pairing(p["pairing_id"], cohort_id, p["mentor_id"], p["mentee_id"],
                                                        phase=rng.randrange(opts.cadence_weeks))
        self.one("POST", "matching", "/v1/cohorts/{id}/status", f"/v1/cohorts/{cohort_id}/status",
                 json_body={"status": "active"})
        self.say(f"cohort {cohort.index + 1} ({cohort_id}): {len(rows)} enrolled, {len(proposed)} proposed, "
                 f"{len(mentee_yes)} accepted by both, run {run.get('status')}")

    def proposed(self, cohort_id: str) -> list[dict]:
        out: list[dict] = []
        cursor = None
        while True:
            params = {"status": "proposed", "limit": 500, **({"cursor": cursor} if cursor else {})}
            status, page = self.one("GET", "matching", "/v1/cohorts/{id}/pairings",
                                    f"/v1/cohorts/{cohort_id}/pairings", params=params)
            out += page.get("items", []) if status == 200 else []
            cursor = page.get("next") if status == 200 else None
            if not cursor:
                return out

    def close(self, cohort: Cohort) -> None:
        """The cohort's end: closing completes its active pairings (docs/api-pairings-completion.md)."""
        self.one("POST", "matching", "/v1/cohorts/{id}/status", f"/v1/cohorts/{cohort.cohort_id}/status",
                 json_body={"status": "closed"})
        for pairing in self.org.pairings.values():
            if pairing.cohort_id == cohort.cohort_id:
                pairing.active = False

    def pairs_week(self, week: int) -> None:
        self.feedback(week)  # last week's meetings rated, then this week's held
        self.meetings(week)

    def meetings(self, week: int) -> None:
        """Pairs due this week schedule a meeting (the mentor) and, once held, record it (the mentee)
        at its simulated date; the first held meeting sets goals, every fourth revises them."""
        org, opts = self.org, self.options
        due = [p for p in org.pairings.values() if p.active and week % opts.cadence_weeks == p.phase]
        soon = rfc3339(utcnow() + timedelta(days=1))
        scheduled = self.each("POST sessions /v1/pairings/{id}/meetings", due, lambda p: self.api.call(
            "POST", "sessions", "/v1/pairings/{id}/meetings", f"/v1/pairings/{p.pairing_id}/meetings", p.mentor_id,
            json_body={"starts_at": soon, "duration_minutes": 45, "agenda": "Progress since last time"}))
        made = [(p, body["meeting_id"]) for p, (code, body) in zip(due, scheduled) if code == 201]
        held_at = rfc3339(min(org.day(week, 2), utcnow() - timedelta(minutes=1)))
        held = self.each("POST sessions /v1/meetings/{id}/complete", made, lambda pm: self.api.call(
            "POST", "sessions", "/v1/meetings/{id}/complete", f"/v1/meetings/{pm[1]}/complete", pm[0].mentee_id,
            json_body={"held_at": held_at, "notes": "Talked through the quarter's goals."}))
        for (p, meeting_id), (code, _) in zip(made, held):
            if code == 200:
                p.held.append(meeting_id)
                p.unrated.append((meeting_id, week))
        revising = [p for p, _ in made if p.held and (p.goals_revision is None or len(p.held) % 4 == 0)]
        answers = self.each("PUT sessions /v1/pairings/{id}/goals", revising, lambda p: self.api.call(
            "PUT", "sessions", "/v1/pairings/{id}/goals", f"/v1/pairings/{p.pairing_id}/goals", p.mentee_id,
            json_body={"expected_revision": p.goals_revision or 0, "goals": [
                {"title": "Lead a design review", "status": "open", "progress": min(100, 10 * len(p.held))},
                {"title": "Present at the all-hands", "status": "open", "progress": min(100, 5 * len(p.held))}]}))
        for p, (code, body) in zip(revising, answers):
            if code == 200:
                p.goals_revision = body.get("revision", (p.goals_revision or 0) + 1)

    def feedback(self, week: int) -> None:
        """Meetings held before this week are rated by the mentee (and half the time the mentor);
        one in six ratings comes with kudos."""
        org = self.org
        ratings = []
        for p in org.pairings.values():
            if not p.active:
                continue
            last_week = [m for m, held_in in p.unrated if held_in < week]
            for meeting_id in last_week:
                ratings.append((p, meeting_id, p.mentee_id, org.rng.choice([3, 4, 4, 5, 5])))
                if org.rng.random() < 0.5:
                    ratings.append((p, meeting_id, p.mentor_id, org.rng.choice([4, 5])))
            p.unrated = [(m, held_in) for m, held_in in p.unrated if held_in >= week]
        self.each("POST feedback /v1/pairings/{id}/feedback", ratings, lambda r: self.api.call(
            "POST", "feedback", "/v1/pairings/{id}/feedback", f"/v1/pairings/{r[0].pairing_id}/feedback", r[2],
            json_body={"rating": r[3], "meeting_id": r[1], "comment": "Useful session", "share_comment": r[3] == 5}))
        kudos = [r for r in ratings if r[2] == r[0].mentee_id and org.rng.random() < 1 / 6]
        self.each("POST feedback /v1/pairings/{id}/kudos", kudos, lambda r: self.api.call(
            "POST", "feedback", "/v1/pairings/{id}/kudos", f"/v1/pairings/{r[0].pairing_id}/kudos", r[2],
            json_body={"note": "Thank you for your time!"}))

    def reads(self, week: int) -> None:
        """What people look at: a tenth of the active participants their pairings and inbox; the
        admin every running cohort's stats and engagement."""
        org = self.org
        rng = random.Random(self.options.seed * 1000 + week)  # its own: it runs beside the pairs' week
        active = sorted({x for p in list(org.pairings.values()) if p.active for x in (p.mentor_id, p.mentee_id)})
        readers = rng.sample(active, max(1, len(active) // 10)) if active else []
        self.each("GET matching /v1/me/pairings", readers, lambda e: self.api.call(
            "GET", "matching", "/v1/me/pairings", "/v1/me/pairings", e))
        self.each("GET notifications /v1/me/notifications", readers, lambda e: self.api.call(
            "GET", "notifications", "/v1/me/notifications", "/v1/me/notifications", e))
        running = [c.cohort_id for c in org.cohorts if c.cohort_id and c.start_week <= week < c.end_week]
        self.each("GET matching /v1/cohorts/{id}/stats", running, lambda c: self.api.call(
            "GET", "matching", "/v1/cohorts/{id}/stats", f"/v1/cohorts/{c}/stats", ADMIN))
        self.each("GET sessions /v1/cohorts/{id}/engagement", running, lambda c: self.api.call(
            "GET", "sessions", "/v1/cohorts/{id}/engagement", f"/v1/cohorts/{c}/engagement", ADMIN))

    # -- the end: settled, stopped, every projection against a rebuild ---------------------------
    def check(self) -> tuple[dict, list[dict]]:
        started = time.perf_counter()
        behind = consistency.settle_all(self.stack.settings)
        settled_s = time.perf_counter() - started
        self.say(f"settled in {settled_s:.1f} s" + (f"; still behind: {behind}" if behind else ""))
        self.stack.stop()  # nothing may apply while the live views are compared with a rebuild
        # the four services' rebuilds are independent (own database, own replay): side by side
        with ThreadPoolExecutor(len(SERVICES)) as side_by_side:
            checks = list(side_by_side.map(self.check_one, SERVICES))
        for check in checks:
            self.say(f"{check['service']}: live projections {'equal' if check['equal'] else 'DIFFER FROM'} a rebuild "
                     f"({check['documents']} documents; {check['kafka_records_replayed']} records + "
                     f"{check['store_events_replayed']} own events replayed in {check['rebuild_s']} s)")
            for line in check["differences"]:
                self.say("  " + line[:2000])
        return {"settled_s": round(settled_s, 1), "behind": behind}, checks

    def check_one(self, service: str) -> dict:
        from shared.eventstore import EventStore
        from shared.worker import projector_for

        settings = self.stack.settings[service]
        projector = projector_for(consistency.bootstrap_of(service).build(settings))
        if projector is not None:
            projector.catch_up()  # a job's last commit, stored after the worker's last pass
        stored = EventStore(database_for(settings)).current_position()
        check = consistency.compare_with_rebuild(service, settings)
        return {"service": service, "equal": check.equal, "differences": check.differences,
                "documents": check.documents, "events_stored": stored,
                "kafka_records_replayed": check.kafka_records, "store_events_replayed": check.store_events,
                "rebuild_s": round(check.seconds, 1),
                "replay_per_s": round((check.kafka_records + check.store_events) / max(check.seconds, 0.001), 1)}


def org_data(options: Options) -> tuple[list[dict], Path]:
    """The organisation's HRIS file (scripts/gen_org.py, generated once per size and seed)."""
    out = Path(options.data or ROOT / "bench" / "results" / "data") / f"org-{options.employees}-s{options.seed}"
    hris = out / "hris-employees.jsonl"
    if not hris.exists():
        gen_org.generate(out, options.employees, options.seed)
    people = [json.loads(line)["data"] for line in hris.read_text().splitlines() if line.strip()]
    return people, hris


def print_table(report: dict) -> None:
    print(f"\n{'route':<56} {'requests':>8} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    for row in report["routes"]:
        print(f"{row['route']:<56} {row['requests']:>8} {row['per_s'] or '':>7} {row['p50_ms'] or '':>8} "
              f"{row['p95_ms'] or '':>8} {row['p99_ms'] or '':>8}  {row['statuses']}")
    print(f"\n{'service':<14} {'HRIS apply/s':>12} {'lag max':>8} {'lag end':>8} {'store max':>9} "
          f"{'events':>8} {'replay/s':>9}  rebuild")
    for check in report["rebuild"]:
        s = check["service"]
        lag = report["lag"].get(s, {})
        print(f"{s:<14} {report['hris_ingest'][s]['per_s'] or '':>12} {lag.get('kafka_max', ''):>8} "
              f"{lag.get('kafka_last', ''):>8} {lag.get('store_max', ''):>9} {check['events_stored']:>8} "
              f"{check['replay_per_s']:>9}  {'equal' if check['equal'] else 'DIFFERS'}")
    totals = report["totals"]
    print(f"\n{totals['requests']} requests in {totals['driving_s']} s of driving ({totals['per_s']}/s at "
          f"{report['options']['threads']} clients), {totals['server_errors']} server errors, "
          f"{totals['terminations']} terminations, {totals['rehires']} rehires, {totals['emails']} emails; "
          f"wall {totals['wall_s']} s")


def simulate(options: Options) -> dict:
    options = options.scaled()
    wall = time.perf_counter()
    people, hris_file = org_data(options)
    run_id = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix="simulate-"))
    stack = Stack(run_id, workdir)
    print(f"simulate {run_id}: {len(people)} employees, {options.weeks} weeks, {options.programmes} programmes, "
          f"{options.cohorts} cohorts; logs in {workdir}", flush=True)
    try:
        stack.start()
        print(f"services up in {time.perf_counter() - wall:.1f} s", flush=True)
        sim = Simulation(options, stack, people, hris_file)
        try:
            sim.load_hris()
            driving = time.perf_counter()
            sim.run()
            driving_s = time.perf_counter() - driving
            settled, checks = sim.check()
        finally:
            sim.pool.shutdown(wait=False, cancel_futures=True)
        routes = sim.recorder.table()
        requests_made = sum(r["requests"] for r in routes)
        report = {
            "options": asdict(options), "run_id": run_id, "employees": len(people),
            "routes": routes,
            "totals": {"requests": requests_made, "driving_s": round(driving_s, 1),
                       "per_s": round(requests_made / driving_s, 1) if driving_s else None,
                       "server_errors": sim.recorder.server_errors(),
                       "pairings": len(sim.org.pairings), "terminations": getattr(sim, "terminations", 0),
                       "rehires": getattr(sim, "rehired", 0), "emails": len(stack.smtp.messages()),
                       "wall_s": round(time.perf_counter() - wall, 1)},
            "hris_ingest": sim.ingest, "lag": sim.lag_report, "jobs": sim.jobs_report, "settle": settled,
            "rebuild": checks,
            "passed": all(c["equal"] for c in checks) and sim.recorder.server_errors() == 0,
        }
    finally:
        stack.stop()
        if not options.keep:
            stack.drop()
    if options.report:
        Path(options.report).parent.mkdir(parents=True, exist_ok=True)
        Path(options.report).write_text(json.dumps(report, indent=2))
    print_table(report)
    return report


def main(argv: list[str] | None = None) -> int:
    defaults = Options()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--employees", type=int, default=defaults.employees, help="100000 for the full organisation")
    ap.add_argument("--weeks", type=int, default=defaults.weeks)
    ap.add_argument("--seed", type=int, default=defaults.seed)
    ap.add_argument("--programmes", type=int, default=defaults.programmes)
    ap.add_argument("--cohorts", type=int, default=defaults.cohorts, help="fewer for a small organisation")
    ap.add_argument("--enrol-share", type=float, default=defaults.enrol_share)
    ap.add_argument("--cohort-weeks", type=int, default=defaults.cohort_weeks)
    ap.add_argument("--cadence-weeks", type=int, default=defaults.cadence_weeks)
    ap.add_argument("--attrition", type=float, default=defaults.attrition)
    ap.add_argument("--rehire-share", type=float, default=defaults.rehire_share)
    ap.add_argument("--threads", type=int, default=defaults.threads)
    ap.add_argument("--report", default=str(ROOT / "bench" / "results" / "simulate.json"))
    ap.add_argument("--keep", action="store_true", help="keep the run's databases and topics")
    ap.add_argument("--data", default=None, help="where to generate the organisation (default bench/results/data)")
    args = ap.parse_args(argv)
    report = simulate(Options(**{k: v for k, v in vars(args).items()}))
    if not report["passed"]:
        print("FAILED: " + ("a projection differs from its rebuild" if not all(c["equal"] for c in report["rebuild"])
                            else f"{report['totals']['server_errors']} server errors"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
