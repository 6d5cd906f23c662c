"""gunicorn settings shared by every service API (values from shared.config.Settings)."""
import os
import shutil

from prometheus_client import multiprocess

from shared.config import Settings

_settings = Settings.from_env()

workers = _settings.web_concurrency
threads = _settings.gunicorn_threads
worker_class = "gthread"
timeout = 60
graceful_timeout = 20
accesslog = None
preload_app = False  # each worker opens its own MongoDB/Kafka connections after fork
# gunicorn 27's control socket defaults to one path per user ($XDG_RUNTIME_DIR or ~/.gunicorn):
# four APIs on one machine race for it ("Control server error: File exists"), and a read-only
# root file system in Kubernetes has no home to put it in. Nothing here uses `gunicornc`.
control_socket_disable = True


def on_starting(server):
    # Stale files from a previous run would be summed into this run's metrics.
    folder = _settings.prometheus_multiproc_dir
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder, exist_ok=True)


def child_exit(server, worker):
    if _settings.prometheus_multiproc_dir:
        multiprocess.mark_process_dead(worker.pid)
