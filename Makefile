# Two commands matter: `make run` (the whole system, locally) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STATE := .local
ORG_DATA ?= ../shared/data/org-20k
# Local runs only (a real deployment sets JWT_JWKS_URL, JWT_ISSUER and JWT_AUDIENCE): the HS256 secret
# of development tokens, unless JWT_SECRET is set. Generated once per checkout into $(STATE) (git-ignored),
# never a committed value: the services refuse every secret this repository has published.
LOCAL_JWT_SECRET = $(shell mkdir -p $(STATE) && { test -s $(STATE)/jwt-secret || (umask 077 && \
	$(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))' > $(STATE)/jwt-secret); } && cat $(STATE)/jwt-secret)

# On the project's own broker, act as a Kafka user of shared/kafka_access.py (its development password:
# KAFKA_<USER>_PASSWORD, else "<user>-local-dev"); a broker named by KAFKA_BOOTSTRAP_SERVERS keeps the
# environment's identity.
kafka_as = $(if $(KAFKA_BOOTSTRAP_SERVERS),,KAFKA_SASL_USERNAME=$(1) KAFKA_SASL_PASSWORD=$(or $(KAFKA_$(shell echo $(1) | tr a-z A-Z)_PASSWORD),$(1)-local-dev))

.PHONY: install up down wipe status run lint test test-unit bench simulate dev-token deploy-check deploy-generate

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed  ## Python packages, Kafka's jars, FerretDB (cached)
	$(PY) scripts/devstack.py install

up: install  ## start Kafka and MongoDB (FerretDB) and wait until they are ready
	$(PY) scripts/devstack.py up

down:  ## stop the servers `up` started
	@if [ -x $(PY) ]; then $(PY) scripts/devstack.py down; else $(PYTHON) scripts/devstack.py down; fi

wipe:  ## stop the servers and delete their data
	$(PYTHON) scripts/devstack.py wipe

status:
	$(PYTHON) scripts/devstack.py status

# `make run` exercises the production sign-in path: the local Keycloak issues RS256 tokens that every
# service checks through its JWKS; HS256 development tokens (make dev-token) keep working beside them.
run: export MENTORING_ENV ?= development
run: export JWT_SECRET ?= $(LOCAL_JWT_SECRET)
run: export DEV_USER_PASSWORD ?= mentoring-dev
run: export DEV_ADMIN_IDS ?= E000001
run: export IDP_PORT ?= 8180
run: export JWT_ISSUER ?= http://127.0.0.1:$(IDP_PORT)/realms/mentoring
run: export JWT_JWKS_URL ?= $(JWT_ISSUER)/protocol/openid-connect/certs
run: export JWT_AUDIENCE ?= mentoring
run: export PORTAL_OIDC_CLIENT_SECRET ?= local-portal-secret-change-me
run: export IDP_CLIENT_SECRET ?= $(PORTAL_OIDC_CLIENT_SECRET)
run: export NOTIFICATIONS_APP_URL ?= http://127.0.0.1:8080

run: up  ## servers, every service (API + worker), Prometheus, the IdP and the web app, the org-20k HRIS load
	$(PY) scripts/idp.py install  # Keycloak from Maven Central (cached)
	# Kafka is SASL/SCRAM with ACLs (shared/kafka_access.py): migrate acts as the local super user, the
	# HRIS load as the `hris` integration user, and each service as itself (scripts/procfile.py).
	$(call kafka_as,admin) $(PY) -m shared.cli migrate  # topics and every service's indexes, before any API serves
	$(call kafka_as,hris) $(PY) -m shared.cli load-hris $(ORG_DATA)/hris-employees.jsonl
	$(PY) scripts/procfile.py $(STATE) > $(STATE)/Procfile
	@$(PY) scripts/banner.py
	exec $(VENV)/bin/honcho -f $(STATE)/Procfile -d . start

lint: install  ## ruff and mypy (settings in pyproject.toml); `make test` runs it first
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint up  ## lint, then the whole test suite against the real servers
	$(PY) scripts/idp.py install  # the browser tests sign in at a real Keycloak (and drive Debian's chromium)
	$(PY) -m pytest --durations=30  # the slowest tests, so the suite's ~20 minutes stay watched

test-unit: install
	$(PY) -m pytest tests/unit

bench: up  ## benchmarks, each printed as a ratio against a baseline measured in the same run
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	$(PY) -m bench

# Every service (API + worker) in a database and topic prefix of the run's own, an organisation from
# scripts/gen_org.py fed to the HRIS topic, then a year of programmes, cohorts, meetings, feedback and
# HRIS changes through the public APIs; a table of per-route throughput and latency, consumer lag and
# the rebuild check (exit 1 when a projection differs from a rebuild). docs/capacity.md reads it.
simulate: up  ## make simulate [EMPLOYEES=100000] [WEEKS=52] [SEED=1] [SIMULATE_ARGS="--enrol-share 0.05"]
	$(PY) -m scripts.simulate --employees $(or $(EMPLOYEES),5000) --weeks $(or $(WEEKS),52) --seed $(or $(SEED),1) $(SIMULATE_ARGS)

dev-token: export JWT_SECRET ?= $(LOCAL_JWT_SECRET)
dev-token: install  ## make dev-token SUB=E000001 ROLES="admin participant"
	@$(PY) -m shared.cli dev-token $(or $(SUB),E000001) $(or $(ROLES),participant)

deploy-check: install  ## offline checks of deploy/ (promtool, kubectl kustomize, kubernetes-validate)
	$(PY) -m pytest -q tests/deploy

deploy-generate: install  ## regenerate k8s per-service manifests, PrometheusRule and the Grafana dashboard
	$(PY) deploy/k8s/generate.py && $(PY) deploy/grafana/build_dashboard.py
