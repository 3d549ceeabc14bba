"""deployment/service_gen.py: flags, prompts (through stdin), refusals, and valid output."""

from __future__ import annotations

import os
import shutil
import textwrap

import pytest
import yaml

from helpers.deploy import DEPLOYMENT, REPO, by_kind, kustomize, load_docs, run_generator, validate

FILES = {"deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml", "httproute.yaml", "kustomization.yaml"}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """A models folder honouring the package contract; prefixes differ from folder names."""
    root = tmp_path_factory.mktemp("fake-models")
    packages = {
        # Stand-in with the one attribute the generator reads (keeps these runs fast);
        # "Other" and the real sampleapi use a FastAPI APIRouter.
        "forecast_model": """
            class _Router:
                prefix = "/forecast-api"
            router = _Router()
            """,
        "Other": """
            from fastapi import APIRouter
            router = APIRouter(prefix="/other", tags=["Other"])
            """,
        "broken": "raise RuntimeError('dataset missing at import time')\n",
        "norouter": "VALUE = 1\n",
    }
    for name, code in packages.items():
        (root / name).mkdir()
        (root / name / "__init__.py").write_text(textwrap.dedent(code))
    return root


def service_docs(folder):
    docs = {}
    for name in FILES - {"kustomization.yaml"}:
        (doc,) = load_docs((folder / name).read_text())
        docs[doc["kind"]] = doc
    return docs


def test_flags_write_a_valid_service(models_dir, tmp_path):
    out = tmp_path / "services"
    result = run_generator(
        "--models-dir",
        str(models_dir),
        "--output-dir",
        str(out),
        "--name",
        "forecast",
        "--model",
        "forecast_model",
        "--shared-volume",
        "blob",
        "--volume-name",
        "my-blob-claim",
        "--cpu-request",
        "250m",
        "--cpu-limit",
        "1500m",
        "--memory-request",
        "512Mi",
        "--memory-limit",
        "3Gi",
        "--min-replicas",
        "2",
        "--max-replicas",
        "7",
        "--cpu-utilization",
        "60",
        "--node-pool",
        "heavy",
        "--timeout",
        "2400",
    )
    assert result.returncode == 0, result.stderr
    assert "/forecast-api" in result.stdout
    folder = out / "forecast"
    assert {p.name for p in folder.iterdir()} == FILES
    assert yaml.safe_load((out / "kustomization.yaml").read_text())["resources"] == ["forecast"]
    docs = service_docs(folder)
    for doc in docs.values():
        validate(doc)
        assert doc["metadata"] == {**doc["metadata"], "name": "forecast", "namespace": "sids-ml"}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MODEL_SERVICE"] == "forecast_model" and env["DATASET_PATH"] == "/data/sids"
    assert env["COMPUTE_TIMEOUT_SECONDS"] == "2400"
    # on SIGTERM uvicorn lets a request of the full time limit finish; Kubernetes waits for it
    assert env["GRACEFUL_SHUTDOWN_SECONDS"] == "2430"
    assert pod["terminationGracePeriodSeconds"] == 5 + 2430 + 15
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "1500m", "memory": "3Gi"},
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert [
        v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v
    ] == ["my-blob-claim"]
    assert pod["nodeSelector"] == {"kubernetes.azure.com/agentpool": "heavy"}
    assert pod["tolerations"][0]["value"] == "heavy"
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 7)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    rule = docs["HTTPRoute"]["spec"]["rules"][0]
    # the prefix comes from the imported router, not from the folder name
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/forecast-api"}}]
    assert rule["backendRefs"] == [{"name": "forecast", "port": 80}]
    assert rule["timeouts"] == {"request": "2430s"}
    assert docs["HTTPRoute"]["spec"]["parentRefs"] == [{"name": "sids-ml", "sectionName": "https"}]
    assert (
        docs["Service"]["spec"]["selector"].items()
        <= docs["Deployment"]["spec"]["template"]["metadata"]["labels"].items()
    )


def test_defaults_with_no_shared_volume(models_dir, tmp_path):
    out = tmp_path / "services"
    result = run_generator(
        "--models-dir",
        str(models_dir),
        "--output-dir",
        str(out),
        "--model",
        "forecast_model",
        "--shared-volume",
        "none",
    )
    assert result.returncode == 0, result.stderr
    docs = service_docs(out / "forecast-model")  # name derived from the model
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    env = {e["name"] for e in pod["containers"][0]["env"]}
    assert "DATASET_PATH" not in env, "no volume: the image's embedded dataset is used"
    assert all("persistentVolumeClaim" not in v for v in pod["volumes"])
    assert "nodeSelector" not in pod
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 5)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 50
    for doc in docs.values():
        validate(doc)


def test_real_sample_model_to_stdout(tmp_path):
    if not (REPO / "models" / "sampleapi" / "__init__.py").is_file():
        pytest.skip("models/sampleapi is not present")
    result = run_generator(
        "--model", "sampleapi", "--name", "sample", "--output-dir", str(tmp_path), "--stdout"
    )
    assert result.returncode == 0, result.stderr
    docs = load_docs(result.stdout)
    assert {d["kind"] for d in docs} == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "HTTPRoute",
    }
    for doc in docs:
        validate(doc)
    rule = by_kind(docs, "HTTPRoute")["sample"]["spec"]["rules"][0]
    assert rule["matches"][0]["path"]["value"] == "/sampleapi"
    assert list(tmp_path.iterdir()) == [], "--stdout writes nothing"


def test_generated_service_builds_into_the_overlay(models_dir, tmp_path):
    copy = tmp_path / "deployment"
    shutil.copytree(DEPLOYMENT, copy, ignore=shutil.ignore_patterns("terraform", "__pycache__"))
    services = copy / "overlays" / "production" / "services"
    result = run_generator(
        "--models-dir", str(models_dir), "--output-dir", str(services), "--name", "other", "--model", "Other"
    )
    assert result.returncode == 0, result.stderr
    listing = yaml.safe_load((services / "kustomization.yaml").read_text())["resources"]
    assert "other" in listing and "twolvlimp" in listing, "the existing listing is kept"
    docs = kustomize(copy / "overlays" / "production")
    for doc in docs:
        validate(doc)
    routes = by_kind(docs, "HTTPRoute")
    hosts = {h for r in routes.values() for h in r["spec"]["hostnames"]}
    assert len(hosts) == 1 and "other" in routes
    # the new service runs scale mode like the rest of the overlay
    assert {
        e["name"]
        for e in by_kind(docs, "Deployment")["other"]["spec"]["template"]["spec"]["containers"][0]["env"]
    } >= {"REDIS_URL", "MODEL_SERVICE", "GRACEFUL_SHUTDOWN_SECONDS"}
    dep = by_kind(docs, "Deployment")["other"]
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith("sidsmlacr.azurecr.io/sids-ml-backend:")
    assert container["envFrom"][0]["configMapRef"]["name"].startswith("sids-ml-config-")


def test_interactive_prompts_reask_until_valid(models_dir, tmp_path):
    out = tmp_path / "services"
    answers = (
        "\n".join(
            [
                "nosuchmodel",  # Model: refused, asked again
                "forecast_model",  # Model
                "Bad_Name",  # Service name: refused
                "",  # Service name: default (forecast-model)
                "nfs",  # volume: refused
                "blob",  # volume
                "",  # claim name: default sids-dataset-blob
                "lots",  # CPU request: refused
                "300m",  # CPU request
                "",  # CPU limit: default 2
                "768Mi",  # memory request
                "2Gi",  # memory limit
                "x",  # min replicas: refused
                "1",  # min replicas
                "3",  # max replicas
            ]
        )
        + "\n"
    )
    result = run_generator(
        "--interactive", "--models-dir", str(models_dir), "--output-dir", str(out), stdin=answers
    )
    assert result.returncode == 0, result.stderr
    prompts = result.stderr
    for text in [
        "Available models:",
        "Model",
        "Service name [forecast-model]",
        "does not exist",
        "invalid name 'Bad_Name'",
        "answer none, file or blob",
        "invalid CPU quantity",
        "Volume claim name [sids-dataset-blob]",
        "not a whole number",
    ]:
        assert text in prompts
    docs = service_docs(out / "forecast-model")
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "300m", "memory": "768Mi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    assert docs["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == 3
    volumes = docs["Deployment"]["spec"]["template"]["spec"]["volumes"]
    assert volumes[0]["persistentVolumeClaim"]["claimName"] == "sids-dataset-blob"


def test_interactive_only_asks_what_flags_did_not_give(models_dir, tmp_path):
    out = tmp_path / "services"
    result = run_generator(
        "--interactive",
        "--models-dir",
        str(models_dir),
        "--output-dir",
        str(out),
        "--model",
        "Other",
        "--name",
        "other",
        "--shared-volume",
        "none",
        "--cpu-request",
        "1",
        "--cpu-limit",
        "2",
        "--memory-request",
        "1Gi",
        "--min-replicas",
        "1",
        "--max-replicas",
        "2",
        stdin="6Gi\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(": ") == 1 and "Memory limit" in result.stderr
    docs = service_docs(out / "other")
    assert (
        docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
        == "6Gi"
    )


def test_a_terminal_with_missing_flags_prompts(models_dir, tmp_path):
    pty = pytest.importorskip("pty")
    import subprocess
    import sys

    from helpers.deploy import GENERATOR

    primary, secondary = pty.openpty()
    try:
        base = [
            sys.executable,
            str(GENERATOR),
            "--models-dir",
            str(models_dir),
            "--output-dir",
            str(tmp_path / "s"),
            "--model",
            "forecast_model",
        ]
        os.write(primary, b"tty-svc\n" + b"\n" * 8)
        prompted = subprocess.run([*base], stdin=secondary, capture_output=True, text=True, timeout=120)
        assert prompted.returncode == 0, prompted.stderr
        assert "Service name [forecast-model]" in prompted.stderr and (tmp_path / "s" / "tty-svc").is_dir()
        quiet = subprocess.run(
            [*base[:-2], "--model", "Other", "--no-interactive"],
            stdin=secondary,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert quiet.returncode == 0, quiet.stderr
        assert quiet.stderr == "" and (tmp_path / "s" / "other").is_dir()
    finally:
        os.close(primary)
        os.close(secondary)


def test_interactive_end_of_input_is_a_refusal(models_dir, tmp_path):
    result = run_generator(
        "--interactive",
        "--models-dir",
        str(models_dir),
        "--output-dir",
        str(tmp_path / "s"),
        stdin="forecast_model\n",
    )
    assert result.returncode != 0
    assert "end of input" in result.stderr
    assert not (tmp_path / "s").exists()


def test_without_terminal_or_model_flag_it_refuses(models_dir, tmp_path):
    result = run_generator("--models-dir", str(models_dir), "--output-dir", str(tmp_path / "s"))
    assert result.returncode != 0
    assert "--model is required" in result.stderr


@pytest.mark.parametrize(
    "args, reason",
    [
        (["--name", "Upper"], "invalid name 'Upper'"),
        (["--name", "1starts-with-digit"], "invalid name"),
        (["--name", "under_score"], "invalid name"),
        (["--name", "ends-with-dash-"], "invalid name"),
        (["--name", "a" * 64], "invalid name"),
        (["--name", "sids-ml-api"], "taken by the main API"),
        (["--model", "nosuchmodel"], "does not exist"),
        (["--model", "../forecast_model"], "does not exist"),
        (["--model", "broken"], "cannot be imported (RuntimeError: dataset missing at import time)"),
        (["--model", "norouter"], "has no router with a path prefix"),
        (["--cpu-request", "3", "--cpu-limit", "2"], "cpu request 3 is above the cpu limit 2"),
        (["--cpu-request", "two"], "invalid CPU quantity"),
        (["--memory-request", "4Gi", "--memory-limit", "1Gi"], "memory request 4Gi is above"),
        (["--memory-limit", "lots"], "invalid memory quantity"),
        (["--min-replicas", "4", "--max-replicas", "2"], "replicas must satisfy"),
        (["--volume-name", "Bad_Claim"], "invalid name 'Bad_Claim'"),
        (["--node-pool", "Heavy-Pool"], "invalid node pool"),
        (["--timeout", "7200"], "timeout must be 1-3600 seconds"),
    ],
)
def test_refusals(models_dir, tmp_path, args, reason):
    out = tmp_path / "services"
    base = {"--name": "svc", "--model": "forecast_model"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = [x for pair in base.items() for x in pair]
    result = run_generator("--models-dir", str(models_dir), "--output-dir", str(out), *argv)
    assert result.returncode != 0
    assert reason in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists(), "a refusal writes nothing"


def test_duplicates_are_refused(models_dir, tmp_path):
    out = tmp_path / "services"
    first = run_generator(
        "--models-dir",
        str(models_dir),
        "--output-dir",
        str(out),
        "--name",
        "forecast",
        "--model",
        "forecast_model",
    )
    assert first.returncode == 0, first.stderr
    before = {p: p.read_text() for p in out.rglob("*.yaml")}
    same_name = run_generator(
        "--models-dir", str(models_dir), "--output-dir", str(out), "--name", "forecast", "--model", "Other"
    )
    assert same_name.returncode != 0 and "already exists" in same_name.stderr
    same_model = run_generator(
        "--models-dir",
        str(models_dir),
        "--output-dir",
        str(out),
        "--name",
        "forecast-two",
        "--model",
        "forecast_model",
    )
    assert same_model.returncode != 0 and "already split out as service 'forecast'" in same_model.stderr
    assert {p: p.read_text() for p in out.rglob("*.yaml")} == before, "refusals leave files untouched"


def test_duplicate_of_a_committed_service_is_refused(models_dir):
    # Default output dir is the production overlay; --stdout guarantees nothing is written.
    result = run_generator(
        "--models-dir", str(models_dir), "--name", "twolvlimp", "--model", "Other", "--stdout"
    )
    assert result.returncode != 0
    assert "'twolvlimp' already exists" in result.stderr


def test_help_lists_every_flag():
    result = run_generator("--help")
    assert result.returncode == 0
    for flag in [
        "--name",
        "--model",
        "--shared-volume",
        "--volume-name",
        "--cpu-request",
        "--cpu-limit",
        "--memory-request",
        "--memory-limit",
        "--interactive",
        "--no-interactive",
        "--output-dir",
    ]:
        assert flag in result.stdout
    assert os.access(DEPLOYMENT / "service_gen.py", os.R_OK)
