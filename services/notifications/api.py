"""The notifications service's HTTP API (gunicorn: `services.notifications.api:create_app()`)."""
from __future__ import annotations

from shared.config import Settings
from shared.generations import live_database
from shared.http.scopes import install_scopes
from shared.scopes import ProgrammeScopeReader
from shared.http.app import create_service_app, standard_readiness
from shared.http.export import person_export_blueprint
from services.notifications import bootstrap
from services.notifications.adapters.http import blp
from services.notifications.application.export import person_export


def create_app(settings: Settings | None = None):
    context = bootstrap.build(settings)

    def configure(app):
        app.extensions["notifications"] = context
        install_scopes(app, ProgrammeScopeReader(live_database(context.database)))

    return create_service_app(
        context.settings,
        title="Mentoring — notifications",
        blueprints=[blp, person_export_blueprint(bootstrap.SERVICE, person_export)],
        readiness_checks=standard_readiness(context.settings, context.database),
        audit_database=context.database,
        configure=configure,
    )
