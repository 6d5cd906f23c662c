#!/usr/bin/env python3
"""Write the Procfile `make run` hands to honcho: an API and a worker for every service that exists,
the OpenID Connect provider (Keycloak, scripts/idp.py) and the web app (services/portal)."""
from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.config import kafka_development_password  # noqa: E402 - the repository's own module, after its root is on the path
SERVICES = {"matching": (8001, 9101), "sessions": (8002, 9102), "feedback": (8003, 9103), "notifications": (8004, 9104)}
PORTAL_PORT = 8080


def kafka_identity(service: str) -> str:
    """Each service talks to the project's broker as its own Kafka user (shared/kafka_access.py), with
    only its own ACLs; a broker named by KAFKA_BOOTSTRAP_SERVERS keeps the environment's identity."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return ""
    password = shlex.quote(kafka_development_password(service))
    return f"KAFKA_SASL_USERNAME={service} KAFKA_SASL_PASSWORD={password} "


def lines(state: Path) -> list[str]:
    out = []
    for name, (api_port, metrics_port) in SERVICES.items():
        folder = ROOT / "services" / name
        kafka = kafka_identity(name)
        if (folder / "api.py").exists():
            prom = state / "prometheus-multiproc" / name
            out.append(
                f"{name}-api: mkdir -p {prom} && SERVICE_NAME={name} {kafka}PROMETHEUS_MULTIPROC_DIR={prom} "
                f"exec .venv/bin/gunicorn -c services/gunicorn_conf.py -b 127.0.0.1:{api_port} "
                f"'services.{name}.api:create_app()'"
            )
        if (folder / "worker.py").exists():
            out.append(f"{name}-worker: SERVICE_NAME={name} {kafka}WORKER_METRICS_PORT={metrics_port} "
                       f"exec .venv/bin/python -m services.{name}.worker")
    if (ROOT / "services" / "portal" / "api.py").exists():
        out.append("idp: exec .venv/bin/python scripts/idp.py serve")
        prom = state / "prometheus-multiproc" / "portal"
        out.append(f"portal: mkdir -p {prom} && SERVICE_NAME=portal PROMETHEUS_MULTIPROC_DIR={prom} "
                   f"exec .venv/bin/gunicorn -c services/gunicorn_conf.py -b 127.0.0.1:{PORTAL_PORT} "
                   f"'services.portal.api:create_app()'")
    if shutil.which("prometheus"):
        out.append(f"prometheus: exec prometheus --config.file=deploy/prometheus/prometheus.yml "
                   f"--storage.tsdb.path={state / 'data' / 'prometheus'} --web.listen-address=127.0.0.1:9090 "
                   f"--log.level=warn")
    return out


if __name__ == "__main__":
    state = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".local"
    print("\n".join(lines(state.resolve())))
