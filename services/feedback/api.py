"""The feedback service's HTTP API (gunicorn: `services.feedback.api:create_app()`)."""
from __future__ import annotations

from shared.config import Settings
from shared.http.app import create_service_app
from shared.kafka import kafka_reachable
from shared.mongo import ping
from services.feedback import bootstrap
from services.feedback.adapters.http import blp as feedback_blp


def create_app(settings: Settings | None = None, clock=None):
    context = bootstrap.build(settings, clock)

    def configure(app):
        app.extensions["feedback"] = context

    return create_service_app(
        context.settings,
        title="Mentoring — feedback",
        blueprints=[feedback_blp],
        readiness_checks={
            "mongodb": lambda: ping(context.database),
            "kafka": lambda: kafka_reachable(context.settings),
        },
        configure=configure,
    )
