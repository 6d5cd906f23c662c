"""Kubernetes manifests (issue 7): render each kustomize overlay and check it
offline.  Needs `kubectl` (with built-in kustomize) on PATH.

Core kinds are validated strictly (unknown fields rejected) against the
Kubernetes OpenAPI schemas shipped with kubernetes-validate.  It has no schemas
for the custom resources (Strimzi, MongoDB community operator, Prometheus
operator), so their structure is asserted here by hand.
"""
from __future__ import annotations

import base64
import copy
from urllib.parse import parse_qsl, urlsplit

import kubernetes_validate
import pytest
import yaml

from shared.config import Settings

from ._tools import CONTRACT_TOPICS, DEPLOY, PORTAL, PROCESSES, SERVICES, require_tool, run

# Every process that keeps a database (the four services and the portal's sessions).
DATABASE_OWNERS = [*SERVICES, PORTAL]

K8S_VERSION = "1.33"
OVERLAYS = ["dev", "prod"]
KUBECTL_HINT = ("the machine image ships kubectl (Google Cloud SDK's package); elsewhere install a kubectl >= 1.27 "
                "(its built-in kustomize v5 is needed: Debian's kubernetes-client 1.20 is too old)")

# Custom resources: kind -> (apiVersion, spec keys that must be present)
CUSTOM_KINDS = {
    "Kafka": ("kafka.strimzi.io/v1beta2", {"kafka"}),
    "KafkaNodePool": ("kafka.strimzi.io/v1beta2", {"replicas", "roles", "storage"}),
    "KafkaTopic": ("kafka.strimzi.io/v1beta2", {"partitions", "replicas", "topicName"}),
    "KafkaUser": ("kafka.strimzi.io/v1beta2", {"authentication", "authorization"}),
    "MongoDBCommunity": ("mongodbcommunity.mongodb.com/v1", {"members", "type", "version", "security", "users"}),
    "ServiceMonitor": ("monitoring.coreos.com/v1", {"selector", "endpoints"}),
    "PrometheusRule": ("monitoring.coreos.com/v1", {"groups"}),
    "Issuer": ("cert-manager.io/v1", set()),
    "Certificate": ("cert-manager.io/v1", {"secretName", "issuerRef"}),
}


@pytest.fixture(scope="module")
def kubectl() -> str:
    return require_tool("kubectl", KUBECTL_HINT)


_rendered: dict[str, list[dict]] = {}


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request, kubectl) -> tuple[str, list[dict]]:
    name = request.param
    if name not in _rendered:
        res = run([kubectl, "kustomize", str(DEPLOY / "k8s" / "overlays" / name)])
        assert res.returncode == 0, f"kubectl kustomize overlays/{name} failed:\n{res.stderr}"
        docs = [d for d in yaml.safe_load_all(res.stdout) if d]
        assert docs, f"overlays/{name} rendered nothing"
        _rendered[name] = docs
    return name, _rendered[name]


def _of(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def _by_name(docs, kind):
    return {d["metadata"]["name"]: d for d in _of(docs, kind)}


def _matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _containers(deploy):
    spec = deploy["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


# ---------------------------------------------------------------- schemas --

def test_core_objects_validate_strictly(overlay):
    name, docs = overlay
    errors, validated = [], 0
    for d in docs:
        if d["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(d, K8S_VERSION, strict=True)
            validated += 1
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{d['kind']}/{d['metadata']['name']}: no schema (unknown kind or apiVersion {d['apiVersion']})")
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{d['kind']}/{d['metadata']['name']}: {e.message} at {'/'.join(map(str, e.path))}")
    assert not errors, f"overlays/{name}:\n" + "\n".join(errors)
    assert validated >= 40


def test_strict_validation_rejects_a_broken_deployment(overlay):
    # Guards the check above: a misspelt field must not pass.
    _, docs = overlay
    bad = copy.deepcopy(_of(docs, "Deployment")[0])
    bad["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesytem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_custom_resources_have_the_required_structure(overlay):
    name, docs = overlay
    seen = set()
    for d in docs:
        if d["kind"] not in CUSTOM_KINDS:
            continue
        api_version, spec_keys = CUSTOM_KINDS[d["kind"]]
        where = f"overlays/{name} {d['kind']}/{d['metadata'].get('name')}"
        seen.add(d["kind"])
        assert d["apiVersion"] == api_version, where
        assert d["metadata"].get("name") and d["metadata"].get("namespace"), where
        assert isinstance(d.get("spec"), dict), where
        assert spec_keys <= set(d["spec"]), f"{where}: spec lacks {spec_keys - set(d['spec'])}"
    assert seen == set(CUSTOM_KINDS), f"missing custom resources: {set(CUSTOM_KINDS) - seen}"


def test_everything_lands_in_one_namespace(overlay):
    name, docs = overlay
    (ns,) = _of(docs, "Namespace")
    ns_name = ns["metadata"]["name"]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == ns_name, f"{d['kind']}/{d['metadata']['name']}"


# --------------------------------------------------------------- workloads --

def _secrets_of(svc: str) -> list[str]:
    """Keys of the shared Secret `mentoring-secrets` (MONGO_URL is each process's own: see below)."""
    if svc == PORTAL:
        return ["PORTAL_OIDC_CLIENT_SECRET", "PORTAL_SECRET_KEY"]
    # no JWT_SECRET in a cluster (tokens are the IdP's); one purpose per secret
    return {"notifications": ["SMTP_URL", "NOTIFICATIONS_LINK_SECRET"],
            "feedback": ["FEEDBACK_PSEUDONYM_SECRET"]}.get(svc, [])


def test_one_deployment_per_process(overlay):
    """An API and a worker per service, and the portal's API (it has no worker)."""
    _, docs = overlay
    deployments = _by_name(docs, "Deployment")
    assert set(deployments) == {f"{s}-{c}" for s, c in PROCESSES}
    for svc, comp in PROCESSES:
        (c,) = deployments[f"{svc}-{comp}"]["spec"]["template"]["spec"]["containers"]
        assert c["args"] == [comp, svc]
        env = {e["name"]: e for e in c.get("env", [])}
        assert env["SERVICE_NAME"]["value"] == svc
        for secret in _secrets_of(svc):
            assert env[secret]["valueFrom"]["secretKeyRef"] == {"name": "mentoring-secrets", "key": secret}, secret
        assert ("SMTP_URL" in env) == (svc == "notifications")
        if comp == "worker":
            assert env["WORKER_METRICS_PORT"]["value"] == "9100"
        assert any("configMapRef" in s for s in c.get("envFrom", []))


def _config(docs, prefix: str) -> dict:
    (cm,) = [d for d in _of(docs, "ConfigMap") if d["metadata"]["name"].startswith(prefix)]
    return cm["data"]


def test_portal_calls_the_four_apis_in_cluster_and_names_its_identity_provider(overlay):
    _, docs = overlay
    (portal,) = [d for d in _of(docs, "Deployment") if d["metadata"]["name"] == f"{PORTAL}-api"]
    (c,) = portal["spec"]["template"]["spec"]["containers"]
    config_maps = {s["configMapRef"]["name"] for s in c["envFrom"]}
    portal_config = next(name for name in config_maps if name.startswith("portal-config"))
    data = next(d["data"] for d in _of(docs, "ConfigMap") if d["metadata"]["name"] == portal_config)
    assert data["PORTAL_OIDC_ISSUER"].startswith("https://") and data["PORTAL_OIDC_CLIENT_ID"]
    services = _by_name(docs, "Service")
    for svc in SERVICES:
        host = urlsplit(data[f"{svc.upper()}_URL"]).hostname
        assert host in services and services[host]["spec"]["selector"]["app.kubernetes.io/name"] == svc


def test_portal_ingress_is_the_address_every_email_links_to(overlay):
    """NOTIFICATIONS_APP_URL (the links in emails and chat messages) opens the portal's Ingress."""
    _, docs = overlay
    (ingress,) = _of(docs, "Ingress")
    app_url = urlsplit(_config(docs, "mentoring-config")["NOTIFICATIONS_APP_URL"])
    (rule,) = ingress["spec"]["rules"]
    assert app_url.scheme == "https" and rule["host"] == app_url.hostname
    assert any(rule["host"] in tls["hosts"] for tls in ingress["spec"]["tls"])
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    service = _by_name(docs, "Service")[backend["name"]]
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": PORTAL, "app.kubernetes.io/component": "api"}
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_every_pod_migrates_its_service_before_it_serves(overlay):
    """Topics and indexes exist before an API or worker starts (issue 11): an init container.
    The portal has nothing to migrate (no topics, sessions looked up by `_id`)."""
    _, docs = overlay
    for d in _of(docs, "Deployment"):
        svc = d["metadata"]["labels"]["app.kubernetes.io/name"]
        if svc == PORTAL:
            assert not d["spec"]["template"]["spec"].get("initContainers")
            continue
        (init,) = d["spec"]["template"]["spec"]["initContainers"]
        assert init["args"] == ["migrate", svc], d["metadata"]["name"]
        (main,) = d["spec"]["template"]["spec"]["containers"]
        assert init["image"] == main["image"]
        assert {e["name"] for e in init["env"]} >= {"SERVICE_NAME", "MONGO_URL"}


def test_shared_config_has_the_non_secret_settings(overlay):
    _, docs = overlay
    (cm,) = [d for d in _of(docs, "ConfigMap") if d["metadata"]["name"].startswith("mentoring-config")]
    assert {"KAFKA_BOOTSTRAP_SERVERS", "JWT_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE", "LOG_LEVEL",
            "PROMETHEUS_MULTIPROC_DIR"} <= set(cm["data"])
    secrets = {key for svc in [*SERVICES, PORTAL] for key in _secrets_of(svc)}
    for config in _of(docs, "ConfigMap"):
        assert not secrets & set(config["data"]), f"secrets in the ConfigMap {config['metadata']['name']}"


def _secret_keys_referenced(docs) -> set[str]:
    """Keys of `mentoring-secrets` the pods read (the Kafka passwords are Strimzi's own Secrets)."""
    return {e["valueFrom"]["secretKeyRef"]["key"] for d in _of(docs, "Deployment") for c in _containers(d)
            for e in c.get("env", []) if e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "mentoring-secrets"}


def test_every_secret_key_a_pod_needs_is_generated_in_dev_and_documented_for_prod(overlay):
    name, docs = overlay
    needed = _secret_keys_referenced(docs)
    assert {"PORTAL_OIDC_CLIENT_SECRET", "PORTAL_SECRET_KEY"} <= needed
    example = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "base" / "secret.example.yaml").read_text()) if d]
    documented = next(d for d in example if d["metadata"]["name"] == "mentoring-secrets")["stringData"]
    assert needed <= set(documented), f"secret.example.yaml lacks {needed - set(documented)}"
    if name == "dev":
        (secret,) = [s for s in _of(docs, "Secret") if s["metadata"]["name"] == "mentoring-secrets"]
        assert needed <= set(secret["data"]), f"overlays/dev generates no {needed - set(secret['data'])}"
        assert all(base64.b64decode(secret["data"][key]) for key in needed)


def test_every_container_is_locked_down(overlay):
    name, docs = overlay
    for d in _of(docs, "Deployment"):
        pod = d["spec"]["template"]["spec"]
        psc = pod.get("securityContext", {})
        assert psc.get("runAsNonRoot") is True and psc.get("seccompProfile", {}).get("type") == "RuntimeDefault"
        assert pod.get("automountServiceAccountToken") is False
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in _containers(d):
            where = f"overlays/{name} {d['metadata']['name']}/{c['name']}"
            sc = c.get("securityContext", {})
            assert sc.get("runAsNonRoot") is True, where
            assert sc.get("runAsUser") == 10001, where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not sc.get("capabilities", {}).get("add"), where
            assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(kind, {})), f"{where}: {kind}"
            tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{where}: /tmp is no emptyDir"
            assert ":" in c["image"] and not c["image"].endswith(":latest"), f"{where}: untagged image"


def test_probes(overlay):
    name, docs = overlay
    for d in _of(docs, "Deployment"):
        comp = d["metadata"]["labels"]["app.kubernetes.io/component"]
        (c,) = d["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        where = f"overlays/{name} {d['metadata']['name']}"
        live, ready = c.get("livenessProbe"), c.get("readinessProbe")
        assert live and ready, f"{where}: probes missing"
        if comp == "api":
            assert ports == {"http": 8000}, where
            assert live["httpGet"] == {"path": "/healthz", "port": "http"}, where
            assert ready["httpGet"] == {"path": "/readyz", "port": "http"}, where
        else:
            assert ports == {"metrics": 9100}, where
            assert live["httpGet"] == {"path": "/healthz", "port": "metrics"}, where


def test_every_deployment_has_a_pdb_and_every_api_an_hpa(overlay):
    name, docs = overlay
    pdbs, hpas = _of(docs, "PodDisruptionBudget"), _of(docs, "HorizontalPodAutoscaler")
    for d in _of(docs, "Deployment"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        matching = [p for p in pdbs if _matches(p["spec"]["selector"], labels)]
        assert len(matching) == 1, f"overlays/{name} {d['metadata']['name']}: {len(matching)} PDBs"
        spec = matching[0]["spec"]
        replicas = d["spec"]["replicas"]
        if "minAvailable" in spec:  # a PDB must never forbid every eviction
            assert spec["minAvailable"] < replicas, f"{d['metadata']['name']}: minAvailable >= replicas"
        else:
            assert spec["maxUnavailable"] >= 1
        if labels["app.kubernetes.io/component"] == "api":
            targets = [h for h in hpas if h["spec"]["scaleTargetRef"]["name"] == d["metadata"]["name"]]
            assert len(targets) == 1, f"overlays/{name} {d['metadata']['name']}: no HPA"
            assert targets[0]["spec"]["scaleTargetRef"]["kind"] == "Deployment"
            assert targets[0]["spec"]["minReplicas"] <= targets[0]["spec"]["maxReplicas"]


def test_overlay_specifics(overlay):
    name, docs = overlay
    deployments = _of(docs, "Deployment")
    hpas = _of(docs, "HorizontalPodAutoscaler")
    if name == "dev":
        assert all(d["spec"]["replicas"] == 1 for d in deployments)
        assert {s["metadata"]["name"] for s in _of(docs, "Secret")} == {
            "mentoring-secrets", *(f"{svc}-mongodb-password" for svc in DATABASE_OWNERS)}
        assert _of(docs, "KafkaNodePool")[0]["spec"]["replicas"] == 1
        assert all(t["spec"]["replicas"] == 1 for t in _of(docs, "KafkaTopic"))
    else:
        assert not _of(docs, "Secret"), "prod must not ship Secrets"
        assert all(h["spec"]["minReplicas"] >= 3 for h in hpas)
        for d in deployments:
            tsc = d["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
            keys = {t["topologyKey"] for t in tsc}
            assert {"kubernetes.io/hostname", "topology.kubernetes.io/zone"} <= keys, d["metadata"]["name"]
            if d["metadata"]["labels"]["app.kubernetes.io/component"] == "api":
                assert d["spec"]["replicas"] >= 3
        for p in _of(docs, "PodDisruptionBudget"):
            if p["metadata"]["labels"]["app.kubernetes.io/component"] == "api":
                assert p["spec"].get("minAvailable", 0) >= 2
        (mdb,) = _of(docs, "MongoDBCommunity")
        assert mdb["spec"]["members"] == 3 and mdb["spec"]["type"] == "ReplicaSet"


# ------------------------------------------------------------------ network --

def test_default_deny_network_policy(overlay):
    _, docs = overlay
    deny = [n for n in _of(docs, "NetworkPolicy")
            if n["spec"]["podSelector"] in ({}, None)
            and set(n["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not n["spec"].get("ingress") and not n["spec"].get("egress")]
    assert deny, "no default-deny NetworkPolicy"


def _policies_for(docs, labels):
    return [n for n in _of(docs, "NetworkPolicy")
            if n["spec"]["podSelector"].get("matchLabels") and _matches(n["spec"]["podSelector"], labels)]


def _egress_ports(policies) -> set[int]:
    return {p["port"] for n in policies for rule in n["spec"].get("egress", []) for p in rule.get("ports", [])}


def _ingress_ports(policies) -> set[int]:
    return {p["port"] for n in policies for rule in n["spec"].get("ingress", []) for p in rule.get("ports", [])}


def test_each_process_is_allowed_exactly_what_it_needs(overlay):
    name, docs = overlay
    for d in _of(docs, "Deployment"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        svc, comp = labels["app.kubernetes.io/name"], labels["app.kubernetes.io/component"]
        policies = _policies_for(docs, labels)
        where = f"overlays/{name} {d['metadata']['name']}"
        assert policies, f"{where}: no NetworkPolicy allows anything"
        egress = _egress_ports(policies)
        if svc == PORTAL:
            # DNS, MongoDB (its sessions), the services' APIs, the identity provider (HTTPS); no Kafka
            assert egress == {53, 27017, 8000, 443}, f"{where}: egress {egress}"
        else:
            assert {53, 9093, 27017} <= egress, f"{where}: egress {egress}"
        assert (587 in egress) == (svc == "notifications" and comp == "worker"), f"{where}: SMTP egress"
        assert _ingress_ports(policies) == ({8000} if comp == "api" else {9100}), where
        prometheus_allowed = any(
            peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "monitoring"
            for n in policies for rule in n["spec"].get("ingress", []) for peer in rule.get("from", []))
        assert prometheus_allowed, f"{where}: Prometheus cannot scrape"


def test_portal_reaches_only_the_four_apis_and_is_reached_only_through_the_ingress(overlay):
    _, docs = overlay
    (portal,) = [d for d in _of(docs, "Deployment") if d["metadata"]["name"] == f"{PORTAL}-api"]
    policies = _policies_for(docs, portal["spec"]["template"]["metadata"]["labels"])
    pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in _of(docs, "Deployment")}

    def selects(peer, labels):
        sel = peer.get("podSelector")
        if sel is None or "namespaceSelector" in peer:
            return False
        expressions = all(labels.get(e["key"]) in e["values"] for e in sel.get("matchExpressions", [])
                          if e["operator"] == "In")
        return _matches(sel, labels) and expressions

    api_rules = [r for n in policies for r in n["spec"].get("egress", [])
                 if any(p["port"] == 8000 for p in r.get("ports", []))]
    reachable = {name for name, labels in pods.items()
                 for r in api_rules for peer in r.get("to", []) if selects(peer, labels)}
    assert reachable == {f"{s}-api" for s in SERVICES}
    namespaces = {peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                  for n in policies for r in n["spec"].get("ingress", []) for peer in r.get("from", [])}
    assert namespaces == {"ingress-nginx", "monitoring"}, "in from the ingress controller and Prometheus only"
    idp = [r for n in policies for r in n["spec"].get("egress", []) if {p["port"] for p in r.get("ports", [])} == {443}]
    assert idp, "no HTTPS egress to the identity provider"


# --------------------------------------------------------- kafka / mongodb --

def test_kafka_is_kraft_with_node_pools(overlay):
    _, docs = overlay
    (kafka,) = _of(docs, "Kafka")
    ann = kafka["metadata"].get("annotations", {})
    assert ann.get("strimzi.io/kraft") == "enabled" and ann.get("strimzi.io/node-pools") == "enabled"
    assert "zookeeper" not in kafka["spec"]
    (pool,) = _of(docs, "KafkaNodePool")
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert {"controller", "broker"} <= set(pool["spec"]["roles"])
    # One listener: TLS with SCRAM-SHA-512, and the simple authorizer enforcing the KafkaUsers' ACLs.
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert listener["port"] == 9093 and listener["tls"] is True
    assert listener["authentication"]["type"] == "scram-sha-512"
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"


def test_every_kafka_user_has_exactly_the_acls_of_the_code_and_each_service_logs_in_as_itself(overlay):
    from shared import kafka_access

    _, docs = overlay
    users = _by_name(docs, "KafkaUser")
    assert set(users) == set(kafka_access.USERS) - {kafka_access.ADMIN}
    resource_kinds = {"topic": "topic", "group": "group", "transactional_id": "transactionalId"}
    for name, user in users.items():
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        granted = {(acl["resource"]["type"], acl["resource"]["name"], acl["resource"]["patternType"], op.upper())
                   for acl in user["spec"]["authorization"]["acls"] for op in acl["operations"]}
        wanted = {(resource_kinds[g.kind], g.name, "prefix" if g.prefixed else "literal", g.operation)
                  for g in kafka_access.grants("") if g.user == name}
        assert granted == wanted, name
    config = _by_name(docs, "ConfigMap")["mentoring-config"]["data"]
    assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and config["KAFKA_BOOTSTRAP_SERVERS"].endswith(":9093")
    for deploy in _of(docs, "Deployment"):
        service = deploy["metadata"]["labels"]["app.kubernetes.io/name"]
        if service == "portal":
            continue
        for container in _containers(deploy):
            env = {e["name"]: e for e in container["env"]}
            assert env["KAFKA_SASL_USERNAME"]["value"] == service
            assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": service, "key": "password"}
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert config["KAFKA_SSL_CAFILE"].rsplit("/", 1)[0] in mounts


def test_a_kafka_topic_for_every_contract_topic_and_its_dlq(overlay):
    _, docs = overlay
    (kafka,) = _of(docs, "Kafka")
    topics = {}
    for t in _of(docs, "KafkaTopic"):
        assert t["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        topics[t["spec"]["topicName"]] = t
    expected = {name for t in CONTRACT_TOPICS for name in (t, f"{t}.dlq")}
    assert set(topics) == expected
    pool_replicas = _of(docs, "KafkaNodePool")[0]["spec"]["replicas"]
    for t in topics.values():
        assert 1 <= t["spec"]["replicas"] <= pool_replicas
        assert int(t["spec"]["config"]["min.insync.replicas"]) <= t["spec"]["replicas"]


def test_every_process_with_a_database_has_its_own_mongodb_user_with_readwrite_on_that_database_only(overlay):
    """Least privilege (issue 12): a leaked connection string opens one database, and can neither
    read another process's data nor administer the server."""
    overlay_name, docs = overlay
    (mdb,) = _of(docs, "MongoDBCommunity")
    assert mdb["spec"]["type"] == "ReplicaSet" and mdb["spec"]["members"] >= 1
    users = {u["name"]: u for u in mdb["spec"]["users"]}
    assert set(users) == set(DATABASE_OWNERS)
    for user_name, user in users.items():
        assert user["roles"] == [{"name": "readWrite", "db": Settings(service_name=user_name).database}], user_name
        assert user["passwordSecretRef"]["name"] == f"{user_name}-mongodb-password"
        assert user["connectionStringSecretName"] == f"{user_name}-mongodb"
    for key in ("passwordSecretRef", "scramCredentialsSecretName", "connectionStringSecretName"):
        values = [u[key]["name"] if key == "passwordSecretRef" else u[key] for u in users.values()]
        assert len(set(values)) == len(values), f"two users share {key}"
    # Each password Secret: generated with a throwaway value in dev, documented for prod.
    example = {d["metadata"]["name"]: d for d in yaml.safe_load_all((DEPLOY / "k8s" / "base" / "secret.example.yaml").read_text()) if d}
    generated = _by_name(docs, "Secret")
    for user in users.values():
        secret = user["passwordSecretRef"]["name"]
        assert "password" in example[secret]["stringData"], f"secret.example.yaml lacks {secret}"
        if overlay_name == "dev":
            assert base64.b64decode(generated[secret]["data"]["password"]), secret


def test_every_pod_reads_only_its_own_processs_mongodb_connection_string(overlay):
    """No Deployment reads another process's MongoDB Secret, and each one's MONGO_URL is its own user's."""
    _, docs = overlay
    connection_secrets = {f"{svc}-mongodb" for svc in DATABASE_OWNERS}
    password_secrets = {f"{svc}-mongodb-password" for svc in DATABASE_OWNERS}
    for deploy in _of(docs, "Deployment"):
        owner = deploy["metadata"]["labels"]["app.kubernetes.io/name"]
        for container in _containers(deploy):
            where = f"{deploy['metadata']['name']}/{container['name']}"
            env = {e["name"]: e for e in container["env"]}
            assert env["SERVICE_NAME"]["value"] == owner
            referenced = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]
                          if "secretKeyRef" in e.get("valueFrom", {})}
            assert referenced & connection_secrets == {f"{owner}-mongodb"}, where
            assert not referenced & password_secrets, f"{where} reads a MongoDB user's password Secret"
            assert env["MONGODB_CONNECTION_STRING"]["valueFrom"]["secretKeyRef"] == {
                "name": f"{owner}-mongodb", "key": "connectionString.standard"}, where
            assert not any("secretRef" in source for source in container.get("envFrom", [])), where
            # Volumes: no pod mounts a MongoDB user's Secret either.
        for volume in deploy["spec"]["template"]["spec"].get("volumes", []):
            assert volume.get("secret", {}).get("secretName") not in connection_secrets | password_secrets


def _mongo_url_options(url: str) -> dict[str, str]:
    """The query options of a MONGO_URL as the manifests build it (after Kubernetes expands the
    operator's connection string `...?replicaSet=<name>&ssl=true` into `$(...)`)."""
    operator_string = "mongodb://u:p@m-0.m-svc.ns.svc.cluster.local:27017/admin?replicaSet=m&ssl=true"
    expanded = url.replace("$(MONGODB_CONNECTION_STRING)", operator_string)
    return dict(parse_qsl(urlsplit(expanded).query))


def test_mongodb_requires_tls_and_every_client_insists_on_it_against_the_mounted_ca(overlay):
    name, docs = overlay
    (mdb,) = _of(docs, "MongoDBCommunity")
    tls = mdb["spec"]["security"]["tls"]
    assert tls["enabled"] is True and not tls.get("optional"), "TLS must be required, not optional"
    certificates = _by_name(docs, "Certificate")
    server = certificates[tls["certificateKeySecretRef"]["name"]]
    ca = certificates[tls["caCertificateSecretRef"]["name"]]
    assert ca["spec"]["isCA"] is True
    issuer = _by_name(docs, "Issuer")[server["spec"]["issuerRef"]["name"]]
    assert issuer["spec"]["ca"]["secretName"] == ca["spec"]["secretName"]
    # The certificate names the members as the operator's connection strings do, in this namespace.
    namespace = mdb["metadata"]["namespace"]
    members = f"*.{mdb['metadata']['name']}-svc.{namespace}.svc.cluster.local"
    assert members in server["spec"]["dnsNames"], f"overlays/{name}: certificate lacks {members}"
    for deploy in _of(docs, "Deployment"):
        volumes = {v["name"]: v for v in deploy["spec"]["template"]["spec"]["volumes"]}
        for container in _containers(deploy):
            where = f"{deploy['metadata']['name']}/{container['name']}"
            env = {e["name"]: e for e in container["env"]}
            names = [e["name"] for e in container["env"]]
            # Kubernetes expands $(VAR) only from variables defined before it.
            assert names.index("MONGODB_CONNECTION_STRING") < names.index("MONGO_URL"), where
            options = _mongo_url_options(env["MONGO_URL"]["value"])
            assert options["tls"] == "true", where
            ca_dir, ca_file = options["tlsCAFile"].rsplit("/", 1)
            (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == ca_dir]
            assert mount["readOnly"] is True, where
            source = volumes[mount["name"]]["secret"]
            assert source["secretName"] == ca["spec"]["secretName"], where
            assert source["items"] == [{"key": "ca.crt", "path": ca_file}], f"{where}: only the CA certificate"
            assert "tlsAllowInvalidCertificates" not in options and "tlsInsecure" not in options, where


def test_a_mongo_url_that_is_not_tls_is_refused_by_the_client(tmp_path):
    """The URL shape the manifests build: pymongo accepts it with the operator's ssl=true and refuses
    it outright if the server's TLS were switched off (ssl=false against tls=true)."""
    from pymongo.errors import InvalidURI
    from pymongo.uri_parser import parse_uri

    ca = tmp_path / "ca.crt"
    ca.write_text("")
    url = ("mongodb://matching:p%40ss@m-0.m-svc.ns.svc.cluster.local:27017/admin?replicaSet=m&ssl=true"
           f"&tls=true&tlsCAFile={ca}")
    parsed = parse_uri(url)
    assert parsed["options"]["tls"] is True and parsed["username"] == "matching"
    with pytest.raises(InvalidURI):
        parse_uri(url.replace("ssl=true", "ssl=false"))


# --------------------------------------------------------------- monitoring --

def test_service_monitors_scrape_every_process_as_its_job(overlay):
    _, docs = overlay
    services = _of(docs, "Service")
    jobs = set()
    for sm in _of(docs, "ServiceMonitor"):
        selected = [s for s in services if _matches(sm["spec"]["selector"], s["metadata"]["labels"])]
        assert len(selected) == 1, sm["metadata"]["name"]
        jobs.add(selected[0]["metadata"]["name"])  # Prometheus operator: job = Service name
        port_names = {p["name"] for p in selected[0]["spec"]["ports"]}
        for ep in sm["spec"]["endpoints"]:
            assert ep["port"] in port_names and ep["path"] == "/metrics"
            assert any(r.get("targetLabel") == "service" for r in ep.get("relabelings", []))
    assert jobs == {f"{s}-{c}" for s, c in PROCESSES}


def test_kustomize_base_renders_too(kubectl):
    res = run([kubectl, "kustomize", str(DEPLOY / "k8s" / "base")])
    assert res.returncode == 0, res.stderr
