#!/usr/bin/env python3
"""Local Kafka and MongoDB for development and tests, started by the project itself (no Docker).

  python scripts/devstack.py install   resolve Kafka's jars and build FerretDB (both cached)
  python scripts/devstack.py up        start what is not running and wait until it is ready
  python scripts/devstack.py down      stop what `up` started (by recorded PID, never by name)
  python scripts/devstack.py wipe      down, then delete the servers' data
  python scripts/devstack.py status

Kafka: the Apache Kafka 4.x broker (org.apache.kafka:kafka_2.13 and its dependencies from Maven
Central) in KRaft mode, one node, 127.0.0.1:9092.
MongoDB: `mongod` when it is on PATH; otherwise FerretDB v1.24.2 (SQLite backend) built once
from its Go module, on 127.0.0.1:27017.
If KAFKA_BOOTSTRAP_SERVERS or MONGO_URL is set, that server is used as it is: nothing is
started for it, `up` only waits for it. DEVSTACK_KAFKA_PORT, DEVSTACK_MONGO_PORT and
MENTORING_STATE run a second, independent set (fault-injection tests restart their own).

Cache (outside git): $MENTORING_CACHE or ~/.cache/mentoring. Data, logs and PIDs: .local/ in
the repository (git-ignored), or $MENTORING_STATE.
"""
from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared import kafka_access  # noqa: E402 - the repository's own modules, after its root is on the path
from shared.config import kafka_development_password  # noqa: E402
from shared.kafka import connection_options  # noqa: E402
CACHE = Path(os.environ.get("MENTORING_CACHE", Path.home() / ".cache" / "mentoring"))
STATE = Path(os.environ.get("MENTORING_STATE", ROOT / ".local"))
RUN, LOGS, DATA = STATE / "run", STATE / "logs", STATE / "data"

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"
SLF4J_VERSION = "2.0.17"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
# Overridable so a test can run a second, private set of servers it may restart at will.
KAFKA_PORT = int(os.environ.get("DEVSTACK_KAFKA_PORT", 9092))
KAFKA_CONTROLLER_PORT = int(os.environ.get("DEVSTACK_KAFKA_CONTROLLER_PORT", KAFKA_PORT + 1))
MONGO_PORT = int(os.environ.get("DEVSTACK_MONGO_PORT", 27017))

KAFKA_LIBS = CACHE / f"kafka-{KAFKA_VERSION}" / "libs"
FERRETDB_BIN = CACHE / "bin" / f"ferretdb-{FERRETDB_VERSION}-idfix"


def log(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


# -- install -----------------------------------------------------------------------------------

KAFKA_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.mentoring</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>{SLF4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>{LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>{LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""


def install_kafka() -> None:
    if (KAFKA_LIBS / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
        return
    for tool in ("java", "mvn"):
        if not shutil.which(tool):
            sys.exit(f"devstack: `{tool}` is needed to fetch and run Kafka (Java 17+ and Maven)")
    build = KAFKA_LIBS.parent / "resolve"
    build.mkdir(parents=True, exist_ok=True)
    (build / "pom.xml").write_text(KAFKA_POM)
    tmp = KAFKA_LIBS.with_name("libs.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"resolving Apache Kafka {KAFKA_VERSION} from Maven Central")
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(build / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"],
        check=True,
    )
    shutil.rmtree(KAFKA_LIBS, ignore_errors=True)
    tmp.rename(KAFKA_LIBS)


# FerretDB v1.24.2 indexes `_id` on the SQL expression `_ferretdb_sjson->"_id"`, but its `_id`
# pushdown queries `_ferretdb_sjson->'$._id'`; SQLite does not see them as the same expression,
# so every look-up by `_id` scans the whole table (measured here: 70 ms at 20k documents,
# 1 ms with the fix). We build it with the `_id` index on the expression the queries use.
FERRETDB_PATCH_ANCHOR = """		q = fmt.Sprintf(
			q,
			c.TableName+"_"+index.Name,"""
FERRETDB_PATCH = """		if len(index.Key) == 1 && index.Key[0].Field == "_id" && !index.Key[0].Descending {
			columns[0] = IDColumn
		}

""" + FERRETDB_PATCH_ANCHOR


def install_ferretdb() -> None:
    if shutil.which("mongod") or FERRETDB_BIN.exists():
        return
    if not shutil.which("go"):
        sys.exit("devstack: neither `mongod` nor `go` (to build FerretDB) is on PATH")
    log(f"building FerretDB {FERRETDB_VERSION} (once; cached in {FERRETDB_BIN.parent})")
    env = dict(os.environ, GOFLAGS="-mod=mod")
    subprocess.run(["go", "mod", "download", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"], check=True, env=env,
                   cwd=CACHE if CACHE.exists() else None)
    modcache = subprocess.run(["go", "env", "GOMODCACHE"], check=True, capture_output=True, text=True).stdout.strip()
    source = Path(modcache) / "github.com" / "!ferret!d!b" / f"!ferret!d!b@{FERRETDB_VERSION}"
    work = CACHE / "build" / f"ferretdb-{FERRETDB_VERSION}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work)
    for path in work.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)
    # Its version package refuses to start without the file `git describe` would have written.
    (work / "build" / "version" / "version.txt").write_text(FERRETDB_VERSION + "\n")
    registry = work / "internal" / "backends" / "sqlite" / "metadata" / "registry.go"
    text = registry.read_text()
    if FERRETDB_PATCH_ANCHOR not in text:
        sys.exit("devstack: FerretDB source is not the expected v1.24.2; cannot apply the _id index fix")
    registry.write_text(text.replace(FERRETDB_PATCH_ANCHOR, FERRETDB_PATCH, 1))
    FERRETDB_BIN.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["go", "build", "-o", str(FERRETDB_BIN), "./cmd/ferretdb"], check=True, cwd=work,
                   env=dict(os.environ, CGO_ENABLED="0"))
    shutil.rmtree(work, ignore_errors=True)


def install() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        install_kafka()
    if not os.environ.get("MONGO_URL"):
        install_ferretdb()


# -- processes ---------------------------------------------------------------------------------

def pid_file(name: str) -> Path:
    return RUN / f"{name}.pid"


def running_pid(name: str) -> int | None:
    path = pid_file(name)
    if not path.exists():
        return None
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (ValueError, ProcessLookupError, PermissionError):
        path.unlink(missing_ok=True)
        return None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def spawn(name: str, argv: list[str], cwd: Path | None = None) -> int:
    for folder in (RUN, LOGS):
        folder.mkdir(parents=True, exist_ok=True)
    logfile = open(LOGS / f"{name}.log", "ab")
    process = subprocess.Popen(argv, stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               cwd=cwd, start_new_session=True)
    pid_file(name).write_text(str(process.pid))
    return process.pid


def kafka_properties(data_dir: Path) -> Path:
    props = STATE / "kafka.properties"
    props.write_text("\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{KAFKA_CONTROLLER_PORT}",
        # Clients authenticate with SCRAM-SHA-512 and get only what their ACLs grant
        # (shared/kafka_access.py). The controller listener stays plain on loopback: in this one-node
        # KRaft set-up the broker reaches its own controller there as User:ANONYMOUS, which is
        # therefore a super user beside `admin`; it serves controller requests only.
        f"listeners=SASL_PLAINTEXT://127.0.0.1:{KAFKA_PORT},CONTROLLER://127.0.0.1:{KAFKA_CONTROLLER_PORT}",
        f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{KAFKA_PORT}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=SASL_PLAINTEXT",
        "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{kafka_access.ADMIN}" password="{kafka_development_password(kafka_access.ADMIN)}";',
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        f"super.users=User:{kafka_access.ADMIN};User:ANONYMOUS",
        "allow.everyone.if.no.acl.found=false",
        f"log.dirs={data_dir}",
        "num.partitions=3",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=10",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "log.retention.hours=-1",
        "",
    ]))
    (STATE / "log4j2.properties").write_text("\n".join([
        "status = warn",
        "appender.console.type = Console",
        "appender.console.name = STDOUT",
        "appender.console.layout.type = PatternLayout",
        "appender.console.layout.pattern = [%d] %p %m (%c)%n",
        "rootLogger.level = WARN",
        "rootLogger.appenderRef.stdout.ref = STDOUT",
        "",
    ]))
    return props


def start_kafka() -> None:
    if running_pid("kafka"):
        return
    if port_open(KAFKA_PORT):
        log(f"something already listens on {KAFKA_PORT}; using it as Kafka")
        return
    install_kafka()
    data_dir = DATA / "kafka"
    data_dir.mkdir(parents=True, exist_ok=True)
    props = kafka_properties(data_dir)
    classpath = f"{KAFKA_LIBS}/*"
    java = ["java", "-Xms256m", "-Xmx1g", f"-Dlog4j2.configurationFile={STATE / 'log4j2.properties'}", "-cp", classpath]
    scram_marker = data_dir / ".scram-users"
    if (data_dir / "meta.properties").exists() and not scram_marker.exists():
        # Formatted by an older devstack without SASL users: the broker could not authenticate anyone.
        log(f"re-formatting the local Kafka for SASL/SCRAM (its old local data in {data_dir} is deleted)")
        shutil.rmtree(data_dir)
        data_dir.mkdir(parents=True)
    if not (data_dir / "meta.properties").exists():
        cluster_id = "-"
        while cluster_id.startswith("-"):  # as Kafka's own Uuid.randomUuid: the CLI reads "-..." as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # The super user exists from the first start (the broker itself logs in as it); the other
        # users and every ACL are set through it once the broker answers (`grant_access`).
        admin_scram = (f"SCRAM-SHA-512=[name={kafka_access.ADMIN},"
                       f"password={kafka_development_password(kafka_access.ADMIN)}]")
        subprocess.run(java + ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
                               "--add-scram", admin_scram], check=True, stdout=subprocess.DEVNULL)
        scram_marker.write_text("admin\n")
    spawn("kafka", java + ["kafka.Kafka", str(props)])
    log(f"Kafka {KAFKA_VERSION} starting on 127.0.0.1:{KAFKA_PORT}")


def start_mongo() -> None:
    if running_pid("mongo"):
        return
    if port_open(MONGO_PORT):
        log(f"something already listens on {MONGO_PORT}; using it as MongoDB")
        return
    data_dir = DATA / "mongo"
    data_dir.mkdir(parents=True, exist_ok=True)
    if shutil.which("mongod"):
        spawn("mongo", ["mongod", "--bind_ip", "127.0.0.1", "--port", str(MONGO_PORT), "--dbpath", str(data_dir)])
        log(f"mongod starting on 127.0.0.1:{MONGO_PORT}")
        return
    install_ferretdb()
    # WAL with synchronous=NORMAL: a commit survives the server process dying (SIGKILL included),
    # only an operating-system crash can lose the last commits; it halves write latency here.
    spawn("mongo", [str(FERRETDB_BIN), "--handler=sqlite", f"--sqlite-url=file:{data_dir}/?_pragma=synchronous(NORMAL)",
                    f"--listen-addr=127.0.0.1:{MONGO_PORT}", "--telemetry=disable", "--debug-addr=-",
                    "--log-level=warn", f"--state-dir={data_dir}"])
    log(f"FerretDB {FERRETDB_VERSION} (SQLite) starting on 127.0.0.1:{MONGO_PORT}")


def wait_ready(timeout_s: float = 120) -> None:
    """Ready means: MongoDB answers a ping and Kafka answers a metadata request."""
    from kafka import KafkaAdminClient
    from pymongo import MongoClient

    mongo_url = os.environ.get("MONGO_URL") or f"mongodb://127.0.0.1:{MONGO_PORT}/"
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or f"127.0.0.1:{KAFKA_PORT}"
    deadline = time.monotonic() + timeout_s
    pending = {"mongodb", "kafka"}
    last_error: Exception | None = None
    while pending and time.monotonic() < deadline:
        if "mongodb" in pending:
            try:
                MongoClient(mongo_url, serverSelectionTimeoutMS=1000).admin.command("ping")
                pending.discard("mongodb")
            except Exception as exc:  # noqa: BLE001
                last_error = exc
        if "kafka" in pending:
            try:
                admin = KafkaAdminClient(**connection_options(kafka_settings()), request_timeout_ms=3000)
                admin.list_topics()
                admin.close()
                pending.discard("kafka")
            except Exception as exc:  # noqa: BLE001
                last_error = exc
        if pending:
            time.sleep(0.5)
    if pending:
        for name in ("kafka", "mongo"):
            logfile = LOGS / f"{name}.log"
            if logfile.exists():
                print(f"--- {logfile} (tail) ---\n" + "\n".join(logfile.read_text(errors="replace").splitlines()[-30:]))
        sys.exit(f"devstack: not ready after {timeout_s:.0f}s: {sorted(pending)} ({last_error})")
    log(f"ready: MongoDB at {mongo_url}, Kafka at {kafka}")


def kafka_settings():
    """Who devstack is on Kafka: the local super user on its own broker, else the environment's identity."""
    from shared.config import Settings

    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return Settings(service_name="devstack", kafka_bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    return Settings(service_name="devstack", kafka_bootstrap_servers=f"127.0.0.1:{KAFKA_PORT}",
                    kafka_sasl_username=kafka_access.ADMIN,
                    kafka_sasl_password=kafka_development_password(kafka_access.ADMIN),
                    kafka_security_protocol="SASL_PLAINTEXT")


def grant_access() -> None:
    """Every user of shared/kafka_access.py with its development password and its ACLs (idempotent)."""
    settings = kafka_settings()
    prefix = os.environ.get("KAFKA_TOPIC_PREFIX", "")
    kafka_access.ensure_users_and_acls(settings, prefix)
    users = ", ".join(f"{user}={kafka_development_password(user)}" for user in kafka_access.USERS)
    log(f"Kafka users (SCRAM-SHA-512; KAFKA_<USER>_PASSWORD overrides each): {users}")


def up() -> None:
    install()
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        start_kafka()
    if not os.environ.get("MONGO_URL"):
        start_mongo()
    wait_ready()
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        grant_access()


def stop(name: str, timeout_s: float = 30) -> None:
    pid = running_pid(name)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    pid_file(name).unlink(missing_ok=True)
    log(f"stopped {name} (pid {pid})")


def down() -> None:
    for name in ("kafka", "mongo"):
        stop(name)


def wipe() -> None:
    down()
    shutil.rmtree(DATA, ignore_errors=True)
    log(f"deleted {DATA}")


def status() -> None:
    for name, port in (("kafka", KAFKA_PORT), ("mongo", MONGO_PORT)):
        pid = running_pid(name)
        print(f"{name:6} pid={pid or '-':<8} port {port} {'open' if port_open(port) else 'closed'}")


COMMANDS = {"install": install, "up": up, "down": down, "wipe": wipe, "status": status,
            "stop-kafka": lambda: stop("kafka"), "start-kafka": lambda: (start_kafka(), wait_ready()),
            "stop-mongo": lambda: stop("mongo"), "start-mongo": lambda: (start_mongo(), wait_ready())}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]]()
