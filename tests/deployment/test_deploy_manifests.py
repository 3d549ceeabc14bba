"""Kubernetes manifests: schema-valid (k8s 1.31 + CRD schemas) and shaped as SPEC §7 asks."""
from __future__ import annotations

import copy
import os
import re
import subprocess
import sys

import pytest
import yaml

from deploy_helpers import (DEPLOYMENT, OVERLAY, REPO, SERVICES, by_kind, crd_schema, kustomize,
                            load_docs, manifest_files, production_with, validate)

NAMESPACE = "sids-ml"
MAIN = "sids-ml-api"


@pytest.fixture(scope="module")
def overlay() -> list[dict]:
    return kustomize(OVERLAY)


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return kustomize(DEPLOYMENT / "base")


@pytest.fixture(scope="module")
def blob_overlay(tmp_path_factory) -> list[dict]:
    """The production overlay with the dataset-blob component switched on."""
    return production_with("dataset-blob", tmp_path_factory.mktemp("blob-overlay"))


def test_manifest_files_exist():
    names = {p.relative_to(DEPLOYMENT).as_posix() for p in manifest_files()}
    for expected in ["base/namespace.yaml", "base/deployment.yaml", "base/service.yaml", "base/hpa.yaml",
                     "base/ingress.yaml", "base/pdb.yaml", "base/cluster-issuer.yaml",
                     "base/dataset-azurefile.yaml", "components/dataset-blob/dataset-azureblob.yaml"]:
        assert expected in names


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.relative_to(DEPLOYMENT).as_posix())
def test_every_manifest_file_validates(path):
    docs = load_docs(path.read_text())
    assert docs, f"{path} holds no object"
    for doc in docs:
        validate(doc)


@pytest.mark.parametrize("build", ["base", "overlay", "blob_overlay"])
def test_every_built_object_validates(build, request):
    docs = request.getfixturevalue(build)
    assert len(docs) >= 10
    for doc in docs:
        validate(doc)


def test_kubernetes_validate_cli_passes_the_overlay(tmp_path):
    """The same check an operator runs by hand: the CLI in strict mode on the rendered overlay."""
    rendered = tmp_path / "production.yaml"
    rendered.write_text(yaml.safe_dump_all(kustomize(OVERLAY), sort_keys=False))
    result = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.31.0",
                             str(rendered)], capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count("passed for resource") >= 15
    # the only object it cannot check is the CRD-backed one, validated by our own schema
    assert set(re.findall(r"find schema for kind (\w+)", output)) <= {"ClusterIssuer", "ScaledObject",
                                                                       "TriggerAuthentication"}


def test_crd_schemas_are_not_vacuous():
    issuer = yaml.safe_load((DEPLOYMENT / "base" / "cluster-issuer.yaml").read_text())
    validate(issuer)
    broken = copy.deepcopy(issuer)
    del broken["spec"]["acme"]["server"]
    with pytest.raises(AssertionError, match="server"):
        validate(broken)
    namespaced = copy.deepcopy(issuer)
    namespaced["metadata"]["namespace"] = NAMESPACE
    with pytest.raises(AssertionError):
        validate(namespaced)

    scaled = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
              "metadata": {"name": "worker", "namespace": NAMESPACE},
              "spec": {"scaleTargetRef": {"name": "worker"}, "minReplicaCount": 0, "maxReplicaCount": 5,
                       "triggers": [{"type": "redis", "metadata": {"listName": "jobs", "listLength": "5"},
                                     "authenticationRef": {"name": "redis-auth"}}]}}
    validate(scaled)
    for mutate, expected in [
        (lambda s: s["spec"].pop("triggers"), "triggers"),
        (lambda s: s["spec"]["triggers"][0].pop("type"), "type"),
        (lambda s: s["spec"]["triggers"][0]["metadata"].update(listLength=5), "listLength"),
        (lambda s: s["spec"].update(pollingInterval="30"), "pollingInterval"),
        (lambda s: s["spec"]["triggers"][0].update(metricType="Average"), "metricType"),
        (lambda s: s["spec"].update(minReplicaCount=6), "minReplicaCount"),
    ]:
        bad = copy.deepcopy(scaled)
        mutate(bad)
        with pytest.raises(AssertionError, match=expected):
            validate(bad)
    auth = {"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
            "metadata": {"name": "redis-auth", "namespace": NAMESPACE},
            "spec": {"secretTargetRef": [{"parameter": "password", "name": "redis", "key": "password"}]}}
    validate(auth)
    del auth["spec"]["secretTargetRef"][0]["key"]
    with pytest.raises(AssertionError, match="key"):
        validate(auth)
    assert crd_schema("cert-manager.io/v1", "ClusterIssuer")["properties"]["kind"]["const"] == "ClusterIssuer"


def test_namespace_and_scoping(overlay):
    assert NAMESPACE in by_kind(overlay, "Namespace")
    cluster_scoped = {"Namespace", "PersistentVolume", "ClusterIssuer"}
    for doc in overlay:
        if doc["kind"] in cluster_scoped:
            assert "namespace" not in doc["metadata"], doc["metadata"]["name"]
        else:
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{doc['kind']}/{doc['metadata']['name']}"


def _containers(deployment):
    return deployment["spec"]["template"]["spec"]["containers"]


def test_deployments_are_hardened_and_probed(overlay):
    deployments = by_kind(overlay, "Deployment")
    assert MAIN in deployments
    for name, dep in deployments.items():
        pod = dep["spec"]["template"]["spec"]
        assert "replicas" not in dep["spec"], f"{name}: the HPA owns replicas"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        assert pod["terminationGracePeriodSeconds"] >= 30
        for c in _containers(dep):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"] and sc["runAsNonRoot"] is True
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{name}: resources.{kind}"
            assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready"
            assert c["livenessProbe"]["httpGet"]["path"] == "/health/live"
            startup = c["startupProbe"]
            assert startup["httpGet"]["path"].startswith("/health/")
            assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, "startup loads a dataset"
            assert c["lifecycle"]["preStop"], "graceful termination"
            assert c["ports"][0]["containerPort"] == 8000
            image = c["image"]
            assert ":" in image and not image.endswith(":latest") and "@" not in image.split(":")[0]
            assert image.startswith("sidsmlacr.azurecr.io/sids-ml-backend:")
            # a writable /tmp, as the root filesystem is read-only
            assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"])


def test_config_map_is_referenced_and_safe(overlay):
    config_maps = [d for d in overlay if d["kind"] == "ConfigMap"]
    assert len(config_maps) == 1, "the deployment-settings ConfigMap must stay local to the build"
    config = config_maps[0]
    assert config["metadata"]["name"].startswith("sids-ml-config-")
    assert config["data"]["ENVIRONMENT"] == "production"
    assert "*" not in config["data"]["CORS_ORIGINS"]
    for dep in by_kind(overlay, "Deployment").values():
        refs = [e["configMapRef"]["name"] for c in _containers(dep) for e in c.get("envFrom", [])]
        assert refs == [config["metadata"]["name"]]


def test_main_deployment_serves_every_model(overlay):
    env = {e["name"]: e.get("value") for e in _containers(by_kind(overlay, "Deployment")[MAIN])[0]["env"]}
    assert "MODEL_SERVICE" not in env, "the main API loads every model (complete /params and /docs)"
    assert env["DATASET_PATH"] == "/data/sids"


def test_hpa_defaults(overlay):
    hpas = by_kind(overlay, "HorizontalPodAutoscaler")
    deployments = by_kind(overlay, "Deployment")
    assert set(hpas) == set(deployments), "every Deployment has an autoscaler"
    main = hpas[MAIN]["spec"]
    assert (main["minReplicas"], main["maxReplicas"]) == (1, 5)
    assert main["metrics"][0]["resource"]["name"] == "cpu"
    assert main["metrics"][0]["resource"]["target"]["averageUtilization"] == 50
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}


def test_services_and_pdbs_select_their_pods(overlay):
    deployments = by_kind(overlay, "Deployment")
    services = by_kind(overlay, "Service")
    pdbs = by_kind(overlay, "PodDisruptionBudget")
    assert set(services) == set(deployments) == set(pdbs)
    for name, dep in deployments.items():
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        for selector in (services[name]["spec"]["selector"], pdbs[name]["spec"]["selector"]["matchLabels"]):
            assert selector.items() <= pod_labels.items()
        assert services[name]["spec"]["ports"][0]["targetPort"] == "http"


def test_ingress_routes_models_to_their_services(overlay):
    ingresses = by_kind(overlay, "Ingress")
    services = by_kind(overlay, "Service")
    issuers = by_kind(overlay, "ClusterIssuer")
    routes = {}
    for ing in ingresses.values():
        assert ing["spec"]["ingressClassName"] == "nginx"
        tls = ing["spec"]["tls"][0]
        assert tls["secretName"] == "sids-ml-tls"
        for rule in ing["spec"]["rules"]:
            assert rule["host"] in tls["hosts"]
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]["name"]
                assert backend in services, f"route {path['path']} points at a missing Service"
                routes[path["path"]] = (backend, ing)
    assert routes["/"][0] == MAIN
    main_ingress = ingresses[MAIN]
    assert main_ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] in issuers
    generated = [d for d in by_kind(overlay, "Deployment").values()
                 if any(e["name"] == "MODEL_SERVICE" for e in _containers(d)[0].get("env", []))]
    assert generated, "at least one model is split out by default"
    for dep in generated:
        name = dep["metadata"]["name"]
        prefixes = [p for p, (svc, _) in routes.items() if svc == name]
        assert len(prefixes) == 1 and prefixes[0] != "/", f"{name} needs exactly one prefix route"
        annotations = routes[prefixes[0]][1]["metadata"]["annotations"]
        assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600, "long trainings"
    # every ingress carries the same public host (set once in the overlay)
    hosts = {r["host"] for ing in ingresses.values() for r in ing["spec"]["rules"]}
    assert len(hosts) == 1


def test_twolvlimp_is_split_out_on_its_router_prefix(overlay):
    deployment = by_kind(overlay, "Deployment")["twolvlimp"]
    env = {e["name"]: e.get("value") for e in _containers(deployment)[0]["env"]}
    assert env["MODEL_SERVICE"] == "twolvlImp"
    path = by_kind(overlay, "Ingress")["twolvlimp"]["spec"]["rules"][0]["http"]["paths"][0]["path"]
    assert path == "/twolvlImp"
    init = REPO / "models" / "twolvlImp" / "__init__.py"
    if not init.is_file():
        pytest.skip("models/twolvlImp is not written yet; prefix checked against SPEC §5.1 only")
    code = "import models.twolvlImp as m; print(m.router.prefix)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == path


def test_committed_services_match_the_generator_listing():
    listing = yaml.safe_load((SERVICES / "kustomization.yaml").read_text())["resources"]
    folders = sorted(p.name for p in SERVICES.iterdir() if p.is_dir())
    assert sorted(listing) == folders


def test_dataset_volume_uses_csi_with_secret_by_name(overlay, blob_overlay):
    for docs, driver, claim in [(overlay, "file.csi.azure.com", "sids-dataset"),
                                (blob_overlay, "blob.csi.azure.com", "sids-dataset-blob")]:
        pvs = [d for d in docs if d["kind"] == "PersistentVolume" and d["spec"]["csi"]["driver"] == driver]
        assert len(pvs) == 1
        csi = pvs[0]["spec"]["csi"]
        assert csi["nodeStageSecretRef"] == {"name": "azure-dataset-storage", "namespace": NAMESPACE}
        assert csi["readOnly"] is True
        pvc = by_kind(docs, "PersistentVolumeClaim")[claim]
        assert pvc["spec"]["volumeName"] == pvs[0]["metadata"]["name"]
        main = by_kind(docs, "Deployment")[MAIN]["spec"]["template"]["spec"]
        claims = [v["persistentVolumeClaim"]["claimName"] for v in main["volumes"] if "persistentVolumeClaim" in v]
        assert claims == [claim]


def test_overlay_settings_reach_every_object(overlay):
    settings = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())
    literals = dict(item.split("=", 1) for gen in settings["configMapGenerator"]
                    if gen["name"] == "deployment-settings" for item in gen["literals"])
    for ing in by_kind(overlay, "Ingress").values():
        assert ing["spec"]["rules"][0]["host"] == literals["host"]
        assert ing["spec"]["tls"][0]["hosts"] == [literals["host"]]
    assert by_kind(overlay, "ClusterIssuer")["letsencrypt"]["spec"]["acme"]["email"] == literals["acmeEmail"]
    pv = by_kind(overlay, "PersistentVolume")["sids-dataset-file"]
    assert pv["spec"]["csi"]["volumeAttributes"]["shareName"] == literals["datasetShare"]


def test_network_policy_admits_the_ingress_controller(overlay):
    policies = by_kind(overlay, "NetworkPolicy")
    assert policies
    for dep in by_kind(overlay, "Deployment").values():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert any(p["spec"]["podSelector"]["matchLabels"].items() <= labels.items() for p in policies.values())


def test_no_secrets_kubeconfig_or_state_committed():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    files = set(tracked) | {p.relative_to(REPO).as_posix() for p in DEPLOYMENT.rglob("*") if p.is_file()}
    for name in files:
        base = name.rsplit("/", 1)[-1]
        assert not base.startswith("kubeconfig") and base != ".kube", name
        assert not base.endswith((".tfstate", ".tfstate.backup", ".tfvars", ".pem", ".key", ".pfx")), name
    for path in manifest_files():
        for doc in load_docs(path.read_text()):
            assert doc.get("kind") != "Secret", f"{path}: Secret objects are created by the operator, not committed"
    for path in DEPLOYMENT.rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".yml", ".env", ".tf", ".py", ".md"):
            text = path.read_text()
            assert "AccountKey=" not in text and "BEGIN PRIVATE KEY" not in text, path


def _effective_env(docs, deployment):
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    env = dict(config)
    env.update({e["name"]: e["value"] for e in _containers(deployment)[0].get("env", [])})
    return env


def test_ingress_waits_longer_than_the_app_time_limit(overlay):
    ingresses = by_kind(overlay, "Ingress")
    for name, dep in by_kind(overlay, "Deployment").items():
        limit = float(_effective_env(overlay, dep)["COMPUTE_TIMEOUT_SECONDS"])
        annotations = ingresses[name]["metadata"]["annotations"]
        for key in ("proxy-read-timeout", "proxy-send-timeout"):
            assert int(annotations[f"nginx.ingress.kubernetes.io/{key}"]) > limit, f"{name} {key}"


def test_the_app_accepts_the_deployed_settings(overlay):
    """Every Deployment's environment passes the app's production settings validation."""
    try:
        from common.settings import Settings
    except ImportError as exc:  # the app core is built by others; keep this file usable alone
        pytest.skip(f"common.settings not importable: {exc}")
    fields = set(Settings.model_fields)
    for name, dep in by_kind(overlay, "Deployment").items():
        env = _effective_env(overlay, dep)
        values = {k.lower(): v for k, v in env.items() if k.lower() in fields}
        assert values["environment"] == "production"
        settings = Settings(**values)
        assert settings.environment == "production", name
        unknown = {k for k in env if k.lower() not in fields} - {"PORT", "WEB_CONCURRENCY"}
        assert not unknown, f"{name}: variables the app does not read: {unknown}"
