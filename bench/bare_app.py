"""The HTTP baseline: a bare Flask route served by the same gunicorn configuration as the services."""
from flask import Flask, request


def create_app():
    app = Flask("bare")

    @app.post("/v1/echo")
    def echo():
        body = request.get_json(force=True)
        return {"received": len(body)}, 201

    return app
