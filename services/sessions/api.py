"""The sessions service's HTTP API (gunicorn: `services.sessions.api:create_app()`)."""
from __future__ import annotations

from shared.config import Settings
from shared.generations import live_database
from shared.http.scopes import install_scopes
from shared.scopes import ProgrammeScopeReader
from shared.http.app import create_service_app, standard_readiness
from shared.http.export import person_export_blueprint
from services.sessions import bootstrap
from services.sessions.adapters.http import blp as sessions_blp
from services.sessions.adapters.http_availability import blp as availability_blp
from services.sessions.adapters.http_series import blp as series_blp
from services.sessions.adapters.http_circles import blp as circles_blp
from services.sessions.application.export import person_export


def create_app(settings: Settings | None = None, clock=None):
    context = bootstrap.build(settings, clock=clock)
    context.ensure_indexes()

    def configure(app):
        app.extensions["sessions"] = context
        install_scopes(app, ProgrammeScopeReader(live_database(context.database)))

    return create_service_app(
        context.settings,
        title="Mentoring — sessions",
        blueprints=[sessions_blp, availability_blp, series_blp, circles_blp,
                    person_export_blueprint(bootstrap.SERVICE, person_export)],
        readiness_checks=standard_readiness(context.settings, context.database),
        audit_database=context.database,
        configure=configure,
    )
