"""Offline validation helpers for the deployment tests (no cluster, no network).

Built-in Kubernetes kinds are checked by kubernetes-validate against the bundled
Kubernetes 1.31 OpenAPI schemas (strict: unknown fields fail). Custom resources that
kubernetes-validate does not know (cert-manager, KEDA) are checked against JSON
schemas kept next to this file, written from the projects' documented CRD fields.
Gateway API objects are checked by node against the schemas published in the npm package
@kubernetes-models/gateway-api (generated from the Gateway API CRDs; .ci/run installs it
into .ci-tools/gateway-api, GATEWAY_API_MODELS may point elsewhere).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = REPO / "deployment"
OVERLAY = DEPLOYMENT / "overlays" / "production"
SERVICES = OVERLAY / "services"
GENERATOR = DEPLOYMENT / "service_gen.py"
SCHEMA_DIR = REPO / "tests" / "deployment" / "schemas"
K8S_VERSION = "1.31.0"

CRD_SCHEMAS = {
    ("cert-manager.io/v1", "ClusterIssuer"): "cert-manager-clusterissuer.schema.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-scaledobject.schema.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda-triggerauthentication.schema.json",
    ("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass"): "secrets-store-secretproviderclass.schema.json",
}
KUBERNETES_YAML_SKIP = {"kustomization.yaml", "kustomization.yml"}
NOT_KUBERNETES = "observability"
"""Prometheus rule files, rule tests and config, and Operator objects: tests/deployment/test_observability.py."""
GATEWAY_API_GROUP = "gateway.networking.k8s.io/"
GATEWAY_API_VERSION = "2.0.0"
GATEWAY_API_MODELS = Path(
    os.environ.get("GATEWAY_API_MODELS")
    or REPO / ".ci-tools" / "gateway-api" / "node_modules" / "@kubernetes-models" / "gateway-api"
)
GATEWAY_API_SCRIPT = REPO / "tests" / "deployment" / "gateway_api_validate.mjs"
_gateway_api_results: dict[str, str | None] = {}


def gateway_api_problems(docs: list[dict]) -> list[str | None]:
    """Each object's validation message from the published Gateway API schemas (None when valid)."""
    node = shutil.which("node")
    if not node:
        pytest.skip(
            "node is not installed: Gateway API objects cannot be validated (.ci/run installs nodejs)"
        )
    if not (GATEWAY_API_MODELS / "package.json").is_file():
        pytest.skip(
            f"@kubernetes-models/gateway-api is not installed in {GATEWAY_API_MODELS} (.ci/run: npm install "
            f"--prefix .ci-tools/gateway-api @kubernetes-models/gateway-api@{GATEWAY_API_VERSION})"
        )
    keys = [json.dumps(doc, sort_keys=True) for doc in docs]
    todo = sorted({key for key in keys if key not in _gateway_api_results})
    if todo:
        result = subprocess.run(
            [node, str(GATEWAY_API_SCRIPT), str(GATEWAY_API_MODELS)],
            input="[" + ",".join(todo) + "]",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"Gateway API validator failed:\n{result.stderr}"
        _gateway_api_results.update(zip(todo, json.loads(result.stdout)))
    return [_gateway_api_results[key] for key in keys]


def crd_schema(api_version: str, kind: str) -> dict | None:
    name = CRD_SCHEMAS.get((api_version, kind))
    return json.loads((SCHEMA_DIR / name).read_text()) if name else None


def validate(doc: dict) -> None:
    """Raise AssertionError naming the object and the first problem found."""
    assert isinstance(doc, dict), f"not a Kubernetes object: {doc!r}"
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    label = f"{kind}/{doc.get('metadata', {}).get('name')}"
    if str(api_version).startswith(GATEWAY_API_GROUP):
        problem = gateway_api_problems([doc])[0]
        assert problem is None, f"{label}: {problem}"
        metadata = doc.get("metadata", {})
        assert metadata.get("name") and metadata.get("namespace"), f"{label}: name and namespace are required"
        return
    schema = crd_schema(api_version, kind)
    if schema is not None:
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, f"{label}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]
        )
        if kind == "ScaledObject":
            spec = doc["spec"]
            assert spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100), (
                f"{label}: minReplicaCount is above maxReplicaCount"
            )
        return
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except SchemaNotFoundError:
        pytest.fail(f"{label}: no schema for {api_version} {kind}; add a CRD schema to {SCHEMA_DIR.name}/")
    except ValidationError as exc:
        message = getattr(exc, "message", str(exc).splitlines()[0])
        path = "/".join(map(str, getattr(exc, "path", []) or []))
        pytest.fail(f"{label}: {path}: {message}")


def load_docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def manifest_files(root: Path = DEPLOYMENT) -> list[Path]:
    """Every Kubernetes manifest file under root (kustomizations excluded)."""
    files = [
        p
        for p in sorted(root.rglob("*.y*ml"))
        if p.suffix in (".yaml", ".yml")
        and p.name not in KUBERNETES_YAML_SKIP
        and NOT_KUBERNETES not in p.relative_to(root).parts
    ]
    return files


def kubectl() -> str:
    path = shutil.which("kubectl")
    if not path:
        pytest.skip("kubectl is not installed: kustomize builds cannot be checked")
    return path


def kustomize(directory: Path) -> list[dict]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return load_docs(result.stdout)


def production_with(component: str, folder: Path) -> list[dict]:
    """The production overlay with one optional component switched on, rendered from `folder`."""
    rel = os.path.relpath(DEPLOYMENT, folder)
    (folder / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {"resources": [f"{rel}/overlays/production"], "components": [f"{rel}/components/{component}"]}
        )
    )
    return kustomize(folder)


def run_generator(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run deployment/service_gen.py as an operator would (fresh process)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args],
        cwd=REPO,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
    )


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}
