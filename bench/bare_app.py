"""The HTTP baseline (issue 16): a bare Flask route doing one raw `insert_one` of a small document
into the same MongoDB server as the services, served by the same gunicorn configuration.

Its database is the bench run's own (`MONGO_DATABASE`, dropped after the run): the route pays a
MongoDB round trip and a write, so the ratio to it measures what the service adds on top of one
write, not the cost of reaching the database at all.
"""
import uuid

from flask import Flask, request

from shared.config import Settings
from shared.mongo import database_for

COLLECTION = "bare_inserts"


def create_app():
    collection = database_for(Settings.from_env("bench-bare"))[COLLECTION]
    app = Flask("bare")

    @app.post("/v1/echo")
    def echo():
        body = request.get_json(force=True)
        doc = {"_id": uuid.uuid4().hex, "i": request.args.get("i"), **body}
        collection.insert_one(doc)
        return {"_id": doc["_id"]}, 201

    return app
