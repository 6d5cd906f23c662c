# syntax=docker/dockerfile:1.7
# One image for every process of the mentoring platform:
#   docker build -t mentoring-platform .
#   docker run mentoring-platform api matching      # gunicorn on :8000
#   docker run mentoring-platform worker matching   # worker, /metrics + /healthz on :9100
#   docker run mentoring-platform api portal        # the web app (templates and static files ship as package data)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: resolve and install the pinned dependencies into a venv ----
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first (cached until pyproject.toml changes): install the project
# from empty packages, then drop it again and keep only its dependencies.
COPY pyproject.toml ./
RUN mkdir -p services shared \
 && touch services/__init__.py shared/__init__.py \
 && pip install . \
 && pip uninstall -y mentoring-platform \
 && rm -rf build *.egg-info services shared

# Then the code itself (a regular, non-editable install).
COPY shared ./shared
COPY services ./services
RUN pip install --no-deps . \
 && python -m compileall -q /opt/venv

# ---- runtime ----
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="mentoring-platform" \
      org.opencontainers.image.description="Event-sourced mentoring platform: matching, sessions, feedback, notifications (API and worker processes) and the web app (portal)"

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv
COPY --chmod=0555 deploy/docker/entrypoint.sh /usr/local/bin/entrypoint.sh

# Read-only root filesystem friendly: no bytecode writes, all scratch space
# (PROMETHEUS_MULTIPROC_DIR, gunicorn heartbeats) under /tmp, which k8s mounts
# as an emptyDir and compose as a tmpfs.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    LOG_LEVEL=INFO

# An empty working directory: nothing in it can shadow the installed packages.
WORKDIR /app
USER 10001:10001
EXPOSE 8000 9100
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
CMD ["api", "matching"]
