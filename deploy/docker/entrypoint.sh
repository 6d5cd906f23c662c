#!/bin/sh
# Entrypoint of the mentoring-platform image: one process per container.
#
#   entrypoint.sh api <service>      HTTP API (gunicorn) on :8000
#   entrypoint.sh worker <service>   Kafka consumer + event relay, metrics/healthz on :9100
#   entrypoint.sh migrate <service>  topics and the service's indexes, then exit (k8s init container)
#   entrypoint.sh api portal         the web app (gunicorn) on :8000; it has no worker and nothing
#                                    to migrate, so `worker portal` and `migrate portal` are refused
#
# <service> is one of: matching sessions feedback notifications (and portal for `api`).
# Extra arguments are passed on to gunicorn / the worker module.
set -eu

usage() {
    echo "usage: entrypoint.sh {api|worker|migrate} {matching|sessions|feedback|notifications} [args...]" >&2
    echo "       entrypoint.sh api portal [args...]" >&2
    exit 64
}

[ "$#" -ge 2 ] || usage
role=$1
svc=$2
shift 2

case "$svc" in
    matching|sessions|feedback|notifications) ;;
    portal)
        # The web app is an HTTP process only: it consumes no events and has no indexes.
        if [ "$role" != api ]; then
            echo "the portal has no $role process: only \`api portal\` runs it" >&2
            usage
        fi
        ;;
    *) echo "unknown service: $svc" >&2; usage ;;
esac

export SERVICE_NAME="${SERVICE_NAME:-$svc}"

case "$role" in
    api)
        # prometheus-client multiprocess mode (several gunicorn workers): the
        # directory must exist and hold no files of an earlier run.
        export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/prometheus}"
        rm -rf "$PROMETHEUS_MULTIPROC_DIR"
        mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
        # The gunicorn config ships inside the installed package, hence the
        # python: form; the bind address is the container contract (:8000).
        exec gunicorn -c python:services.gunicorn_conf \
            --bind "0.0.0.0:${PORT:-8000}" \
            "services.${svc}.api:create_app()" "$@"
        ;;
    worker)
        # One process with its own registry: no multiprocess mode; metrics and
        # /healthz on WORKER_METRICS_PORT (the container contract is 9100).
        unset PROMETHEUS_MULTIPROC_DIR
        export WORKER_METRICS_PORT="${WORKER_METRICS_PORT:-9100}"
        exec python -m "services.${svc}.worker" "$@"
        ;;
    migrate)
        unset PROMETHEUS_MULTIPROC_DIR
        exec python -m shared.cli migrate "$svc" "$@"
        ;;
    *)
        echo "unknown role: $role" >&2
        usage
        ;;
esac
