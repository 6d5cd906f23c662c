"""schemathesis against each service's own `/openapi.json` (issue 12, "Tests that attack").

For every operation the schema declares, schemathesis generates requests (valid bodies and
parameters, and hostile ones: odd unicode in path ids, boundary numbers, missing fields) and sends
them with an admin token (the widest door) and with none. Whatever it sends, a service must never
answer 5xx, a documented answer must match its documented schema, and every error must be an
RFC 9457 problem document (`application/problem+json`), 401/404/405 included.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import replace

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from shared.http.auth import mint_token

pytestmark = pytest.mark.integration

# With a token every example reaches the handlers; without one every request ends at the same 401,
# so a few examples per operation prove it (odd path ids and methods included).
EXAMPLES_PER_OPERATION = {"admin-token": 12, "no-token": 3}


def _settings(infra, service: str, run_id: str):
    from shared.config import Settings

    mongo_url, kafka = infra
    return replace(Settings.from_env(service), service_name=service, mongo_url=mongo_url,
                   mongo_database=f"t_{run_id}_{service}", kafka_bootstrap_servers=kafka,
                   kafka_topic_prefix=f"t{run_id}.", jwt_secret=os.environ["JWT_SECRET"],
                   environment="development", relay_poll_interval_s=0.02, relay_gap_timeout_s=1.0,
                   relay_lease_ttl_s=3.0)


@pytest.fixture(scope="module")
def apps(infra):
    """The four APIs on real servers, with the store projectors their commands wait for."""
    from services.feedback.api import create_app as feedback_app
    from services.notifications.api import create_app as notifications_app
    from services.sessions.api import create_app as sessions_app
    from shared.kafka import ensure_topics
    from shared.mongo import client_for
    from tests.helpers import delete_topics
    from tests.integration.matching.conftest import Harness
    from tests.helpers import start_projector

    run_id = uuid.uuid4().hex[:10]
    configured = {name: _settings(infra, name, run_id) for name in ("matching", "sessions", "feedback", "notifications")}
    ensure_topics(configured["matching"])
    harness = Harness(configured["matching"])
    built = {"matching": harness.app, "sessions": sessions_app(configured["sessions"]),
             "feedback": feedback_app(configured["feedback"]),
             "notifications": notifications_app(configured["notifications"])}
    halts = [start_projector(built[name].extensions[name]) for name in ("sessions", "feedback")]
    yield built
    for halt in halts:
        halt()
    harness.close()
    for settings in configured.values():
        client_for(settings.mongo_url).drop_database(settings.database)
    delete_topics(configured["matching"])


ADMIN = {"Authorization": "Bearer " + mint_token(os.environ["JWT_SECRET"], "A000001", ["admin"])}


def _problem_json_errors(ctx, response, case):
    """Every 4xx/5xx any service answers is a problem document, never HTML or bare JSON."""
    if response.status_code >= 400:
        found = [value for name, value in response.headers.items() if name.lower() == "content-type"]
        content_type = (found[0][0] if found and isinstance(found[0], list) else found[0]) if found else ""
        assert content_type.startswith("application/problem+json"), (
            f"{case.method} {case.formatted_path} answered {response.status_code} as {content_type!r}")


def _attack(case, headers: dict | None):
    case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance],
                           additional_checks=[_problem_json_errors])


def _fuzz(examples: int):
    return hypothesis_settings(max_examples=examples, deadline=None, derandomize=True,
                               suppress_health_check=list(HealthCheck), database=None)


@pytest.mark.parametrize("with_token", [True, False], ids=["admin-token", "no-token"])
@pytest.mark.parametrize("service", ["matching", "sessions", "feedback", "notifications"])
def test_no_input_makes_a_service_fail_or_answer_outside_its_schema(apps, service, with_token):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", apps[service])
    headers = ADMIN if with_token else {}
    fuzz = _fuzz(EXAMPLES_PER_OPERATION["admin-token" if with_token else "no-token"])
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @fuzz
        @given(case=operation.as_strategy())
        def attack(case):
            _attack(case, headers)

        try:
            attack()
        except Exception as failure:  # noqa: BLE001 - collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {str(failure)[:1500]}")
    assert operations >= 5, f"{service}: the schema lists only {operations} operations"
    assert not failures, "\n\n".join(failures)
