"""The matching service's HTTP API (gunicorn: `services.matching.api:create_app()`)."""
from __future__ import annotations

from shared.config import Settings
from shared.http.app import create_service_app, standard_readiness
from shared.http.export import person_export_blueprint
from shared.http.problems import problem_response
from shared.http.scopes import install_scopes
from services.matching import bootstrap
from services.matching.adapters.http import blp as matching_blp
from services.matching.adapters.http import participants_blp
from services.matching.adapters.http_privacy import privacy_blp
from services.matching.application.inputs import RuleViolations
from services.matching.application.export import person_export


def _rule_violations(error: RuleViolations):
    """Like any refusal (shared.http.app), but naming every broken rule as a field."""
    return problem_response(422, "Unprocessable Entity", error.message,
                            errors={rule: ["this hard constraint is broken"] for rule in error.rules},
                            code=error.code, violated_rules=error.rules)


def create_app(settings: Settings | None = None, clock=None):
    context = bootstrap.build(settings, clock=clock)

    def configure(app):
        app.extensions["matching"] = context
        install_scopes(app, context.scopes)
        app.register_error_handler(RuleViolations, _rule_violations)

    return create_service_app(
        context.settings,
        title="Mentoring — matching",
        blueprints=[participants_blp, matching_blp, person_export_blueprint(bootstrap.SERVICE, person_export),
                    privacy_blp],
        readiness_checks=standard_readiness(context.settings, context.database),
        audit_database=context.database,
        configure=configure,
    )
