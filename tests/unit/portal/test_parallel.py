"""A page's API calls run side by side (views/common.py): results and errors come back by name,
and a call that itself fans out never waits for the pool it is running on."""
from __future__ import annotations

import threading
import time

from flask import Flask, g

from services.portal.backend import ApiError
from services.portal.views import common


def _in_request():
    app = Flask(__name__)
    ctx = app.test_request_context("/")
    ctx.push()
    g.token, g.user = "t", {"employee_id": "E1", "roles": []}
    return ctx


def test_results_and_api_errors_come_back_by_name():
    ctx = _in_request()
    try:
        def refused():
            raise ApiError(403, "Forbidden")

        out = common.parallel(a=lambda: g.token, b=refused)
        assert out["a"] == "t" and isinstance(out["b"], ApiError) and out["b"].status == 403
    finally:
        ctx.pop()


def test_started_calls_run_while_the_page_does_other_work():
    ctx = _in_request()
    try:
        release = threading.Event()
        started = common.start(slow=lambda: release.wait(5) and "done")
        release.set()  # the page's own work, done while the call is in flight
        assert started.results() == {"slow": "done"}
    finally:
        ctx.pop()


def test_fanning_out_from_every_pool_thread_at_once_does_not_deadlock():
    ctx = _in_request()
    try:
        began = time.monotonic()
        width = common.POOL._max_workers * 2
        out = common.parallel(**{f"outer{i}": (lambda i=i: common.parallel(
            **{f"inner{j}": (lambda j=j: i * 100 + j) for j in range(3)})) for i in range(width)})
        assert out["outer5"] == {"inner0": 500, "inner1": 501, "inner2": 502}
        assert time.monotonic() - began < 10
    finally:
        ctx.pop()
