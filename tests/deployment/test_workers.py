"""The jobs-redis component (included by the production overlay): queue workers scaled by KEDA on the
rq queue, every app Deployment on the Redis backend; validated like the rest of deployment/ (k8s
schemas, KEDA CRD schema)."""

from __future__ import annotations

import pytest
import yaml

from common.settings import Settings
from helpers.deploy import DEPLOYMENT, OVERLAY, by_kind, kustomize, validate

COMPONENT = DEPLOYMENT / "components" / "jobs-redis"
WORKER = "sids-ml-worker"


@pytest.fixture(scope="module")
def scaled_overlay() -> list[dict]:
    """The production overlay, which runs the jobs-redis component."""
    return kustomize(OVERLAY)


def _env(deployment: dict) -> dict:
    return {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_every_object_of_the_scaled_overlay_validates(scaled_overlay):
    for doc in scaled_overlay:
        validate(doc)
    assert {"ScaledObject", "TriggerAuthentication"} <= {d["kind"] for d in scaled_overlay}


def test_workers_scale_on_the_rq_queue_keda_can_measure(scaled_overlay):
    scaled = by_kind(scaled_overlay, "ScaledObject")[WORKER]["spec"]
    assert scaled["scaleTargetRef"]["name"] == WORKER and WORKER in by_kind(scaled_overlay, "Deployment")
    assert scaled["minReplicaCount"] == 0 < scaled["maxReplicaCount"] and scaled["cooldownPeriod"] > 0
    trigger = scaled["triggers"][0]
    queue = Settings.model_fields["job_queue"].default
    assert trigger["type"] == "redis" and trigger["metadata"]["listName"] == f"rq:queue:{queue}"
    auth = by_kind(scaled_overlay, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    assert {ref["name"] for ref in auth["spec"]["secretTargetRef"]} == {"sids-ml-redis"}


def test_worker_pods_run_the_worker_and_outlive_a_job_on_sigterm(scaled_overlay):
    worker = by_kind(scaled_overlay, "Deployment")[WORKER]
    pod = worker["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["python", "-m", "api_app.worker"]
    assert "replicas" not in worker["spec"], "KEDA owns the replica count"
    config = next(d for d in scaled_overlay if d["kind"] == "ConfigMap")["data"]
    assert pod["terminationGracePeriodSeconds"] > float(config["COMPUTE_TIMEOUT_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] > float(config["JOB_TIMEOUT_SECONDS"])
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_a_hung_worker_is_restarted_by_its_heartbeat(scaled_overlay):
    """Exec probes on the heartbeat file the worker loop touches (common.heartbeat): local to the pod,
    so a Redis outage, during which the loop keeps beating while it retries, restarts no worker."""
    pod = by_kind(scaled_overlay, "Deployment")[WORKER]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"] == ["python", "-m", "common.heartbeat"], probe
    assert "httpGet" not in container["livenessProbe"]
    liveness = container["livenessProbe"]
    max_age = Settings.model_fields["worker_heartbeat_max_age_seconds"].default
    # the probe gives up only after the heartbeat itself is reported stale
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= max_age - liveness["periodSeconds"]
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120, "the worker loads its data first"
    # the heartbeat folder's default lives on the pod's writable /tmp
    assert str(Settings.model_fields["worker_heartbeat_dir"].default).startswith("/tmp/")
    assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"])


def test_every_app_deployment_uses_redis_from_the_secret(scaled_overlay):
    deployments = by_kind(scaled_overlay, "Deployment")
    assert len(deployments) >= 3, "main API, split-out model(s) and workers"
    config = next(d for d in scaled_overlay if d["kind"] == "ConfigMap")
    assert config["data"]["JOB_BACKEND"] == "redis"
    for name, deployment in deployments.items():
        env = _env(deployment)
        assert "JOB_BACKEND" not in env, f"{name}: JOB_BACKEND comes from {config['metadata']['name']}"
        assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "sids-ml-redis", "key": "url"}, name
    assert not [d for d in scaled_overlay if d["kind"] == "Secret"], "no secret values are committed"


def test_component_files_are_listed_and_valid():
    listed = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())["resources"]
    on_disk = sorted(p.name for p in COMPONENT.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk
    for name in on_disk:
        for doc in yaml.safe_load_all((COMPONENT / name).read_text()):
            validate(doc)
