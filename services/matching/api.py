"""The matching service's HTTP API (gunicorn: `services.matching.api:create_app()`)."""
from __future__ import annotations

from shared.config import Settings
from shared.http.app import create_service_app, standard_readiness
from shared.http.problems import problem_response
from services.matching import bootstrap
from services.matching.adapters.http_matching import blp as matching_blp
from services.matching.adapters.http_participants import blp as participants_blp
from services.matching.application.service import RuleViolations
from services.matching.domain.errors import DomainError

_TITLES = {403: "Forbidden", 404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity"}


def _domain_error(error: DomainError):
    errors = {error.field: [error.message]} if error.field else None
    return problem_response(error.status, _TITLES.get(error.status, "Error"), error.message, errors=errors,
                            code=error.code)


def _rule_violations(error: RuleViolations):
    return problem_response(422, "Unprocessable Entity", str(error),
                            errors={rule: ["this hard constraint is broken"] for rule in error.rules},
                            violated_rules=error.rules)


def create_app(settings: Settings | None = None, clock=None):
    context = bootstrap.build(settings, clock=clock)

    def configure(app):
        app.extensions["matching"] = context
        app.register_error_handler(DomainError, _domain_error)
        app.register_error_handler(RuleViolations, _rule_violations)

    return create_service_app(
        context.settings,
        title="Mentoring — matching",
        blueprints=[participants_blp, matching_blp],
        readiness_checks=standard_readiness(context.settings, context.database),
        configure=configure,
    )
