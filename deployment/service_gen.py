#!/usr/bin/env python3
"""Split one model out of the main API into its own autoscaled Kubernetes service.

For a model package ``models/<model>/`` this writes, into ``<output-dir>/<name>/``:
a Deployment that loads only that model (``MODEL_SERVICE=<model>``), a Service, a
HorizontalPodAutoscaler, a PodDisruptionBudget, a Gateway API HTTPRoute that routes the
model's router prefix (read from the imported package's ``router.prefix``) to the Service, and
a kustomization.yaml; then it lists the new folder in ``<output-dir>/kustomization.yaml``.

Scriptable::

    python deployment/service_gen.py --name twolvlimp --model twolvlImp \
        --shared-volume file --cpu-request 1 --cpu-limit 4 \
        --memory-request 2Gi --memory-limit 8Gi

Interactive: run it in a terminal with flags missing (or with ``--interactive``) and it
asks for each value that no flag gave; ``--no-interactive`` takes defaults instead.
It refuses an invalid or duplicate name, an unknown model and inconsistent resources,
and exits non-zero with the reason.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import importlib.util
import re
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS_DIR = REPO_ROOT / "models"
DEFAULT_OUTPUT_DIR = REPO_ROOT / "deployment" / "overlays" / "production" / "services"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_manifests import (  # noqa: E402  (sibling module of this script)
    HEADER,
    MAX_TIMEOUT,
    RESERVED_NAMES,
    VOLUME_CLAIMS,
    GenError,
    Spec,
    build_manifests,
    dump,
)

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
CPU_RE = re.compile(r"^(\d+(\.\d+)?|\.\d+)(m)?$")
MEM_RE = re.compile(r"^(\d+(\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$")
MEM_UNITS = {
    None: 1,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


# --------------------------------------------------------------------------- checks


def check_name(name: str) -> str:
    if not name or len(name) > 63 or not DNS_LABEL.match(name):
        raise GenError(
            f"invalid name {name!r}: a Kubernetes name must be 1-63 lowercase letters, digits "
            "or '-', start with a letter and end with a letter or digit (e.g. 'twolvlimp')"
        )
    if name in RESERVED_NAMES:
        raise GenError(f"name {name!r} is taken by the main API deployment")
    return name


def cpu_cores(value: str) -> float:
    m = CPU_RE.match(value or "")
    if not m:
        raise GenError(f"invalid CPU quantity {value!r}: use cores ('1', '0.5') or millicores ('500m')")
    number = float(m.group(1))
    return number / 1000 if m.group(3) else number


def memory_bytes(value: str) -> float:
    m = MEM_RE.match(value or "")
    if not m:
        raise GenError(f"invalid memory quantity {value!r}: use e.g. '512Mi', '2Gi'")
    return float(m.group(1)) * MEM_UNITS[m.group(3)]


def available_models(models_dir: Path) -> list[str]:
    if not models_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in models_dir.iterdir()
        if (p / "__init__.py").is_file() and not p.name.startswith(("_", "."))
    )


def model_prefix(models_dir: Path, model: str) -> str:
    """Import models/<model> (import does no work) and return its router's prefix."""
    known = available_models(models_dir)
    if not model.isidentifier() or model not in known:
        raise GenError(
            f"model {model!r} does not exist in {models_dir}; available: {', '.join(known) or 'none'}"
        )
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))  # model packages import common/, shared_dataloader/
    if models_dir == DEFAULT_MODELS_DIR.resolve():
        module_name = f"models.{model}"
    else:
        # Another models folder (tests, a checkout elsewhere): give it a package name
        # of its own so that it can't be shadowed by the repository's models package.
        package = "_service_gen_models"
        if package not in sys.modules:
            holder = importlib.util.module_from_spec(
                importlib.machinery.ModuleSpec(package, None, is_package=True)
            )
            holder.__path__ = [str(models_dir)]
            sys.modules[package] = holder
        module_name = f"{package}.{model}"
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import failure is a refusal, not a traceback
        raise GenError(f"model {model!r} cannot be imported ({type(exc).__name__}: {exc})") from exc
    prefix = getattr(getattr(module, "router", None), "prefix", None)
    if not isinstance(prefix, str) or not prefix.startswith("/") or prefix == "/":
        raise GenError(
            f"model {model!r} has no router with a path prefix "
            "(its __init__.py must define router = APIRouter(prefix='/...'))"
        )
    return prefix


def existing_services(output_dir: Path) -> dict[str, dict]:
    """Generated services already in output_dir: name -> {model, prefix}."""
    found: dict[str, dict] = {}
    if not output_dir.is_dir():
        return found
    for folder in sorted(p for p in output_dir.iterdir() if p.is_dir()):
        info: dict = {"model": None, "prefix": None}
        deployment = folder / "deployment.yaml"
        route = folder / "httproute.yaml"
        if deployment.is_file():
            doc = yaml.safe_load(deployment.read_text()) or {}
            for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                for env in container.get("env", []):
                    if env.get("name") == "MODEL_SERVICE":
                        info["model"] = env.get("value")
        if route.is_file():
            doc = yaml.safe_load(route.read_text()) or {}
            for rule in doc.get("spec", {}).get("rules", []):
                for match in rule.get("matches", []):
                    info["prefix"] = match.get("path", {}).get("value")
        found[folder.name] = info
    listing = output_dir / "kustomization.yaml"
    if listing.is_file():
        for entry in (yaml.safe_load(listing.read_text()) or {}).get("resources", []) or []:
            found.setdefault(str(entry).strip("/"), {"model": None, "prefix": None})
    return found


def check_spec(spec: Spec, output_dir: Path) -> None:
    check_name(spec.name)
    existing = existing_services(output_dir)
    if spec.name in existing:
        raise GenError(
            f"a service named {spec.name!r} already exists in {output_dir}; "
            "choose another --name or delete that folder first"
        )
    for other, info in existing.items():
        if info["model"] == spec.model:
            raise GenError(f"model {spec.model!r} is already split out as service {other!r}")
        if info["prefix"] == spec.prefix:
            raise GenError(f"path prefix {spec.prefix} is already routed to service {other!r}")
    if cpu_cores(spec.cpu_request) > cpu_cores(spec.cpu_limit):
        raise GenError(f"cpu request {spec.cpu_request} is above the cpu limit {spec.cpu_limit}")
    if memory_bytes(spec.memory_request) > memory_bytes(spec.memory_limit):
        raise GenError(f"memory request {spec.memory_request} is above the memory limit {spec.memory_limit}")
    if not 1 <= spec.min_replicas <= spec.max_replicas:
        raise GenError(f"replicas must satisfy 1 <= min ({spec.min_replicas}) <= max ({spec.max_replicas})")
    if not 1 <= spec.cpu_utilization <= 100:
        raise GenError(f"cpu utilization target must be 1-100 %, got {spec.cpu_utilization}")
    if spec.shared_volume not in ("none", *VOLUME_CLAIMS):
        raise GenError(f"shared volume must be one of none, file, blob; got {spec.shared_volume!r}")
    if spec.shared_volume != "none" and spec.volume_name is not None:
        check_name(spec.volume_name)
    if spec.node_pool is not None and not re.match(r"^[a-z][a-z0-9]{0,11}$", spec.node_pool):
        raise GenError(
            f"invalid node pool {spec.node_pool!r}: AKS pool names are 1-12 lowercase letters/digits"
        )
    if not 1 <= spec.timeout <= MAX_TIMEOUT:
        raise GenError(f"timeout must be 1-{MAX_TIMEOUT} seconds (the app's COMPUTE_TIMEOUT_SECONDS range)")


def write_service(spec: Spec, output_dir: Path) -> Path:
    manifests = build_manifests(spec)
    folder = output_dir / spec.name
    folder.mkdir(parents=True, exist_ok=False)
    for filename, doc in manifests.items():
        (folder / filename).write_text(HEADER + dump(doc))
    (folder / "kustomization.yaml").write_text(
        HEADER
        + dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": list(manifests),
            }
        )
    )
    listing = output_dir / "kustomization.yaml"
    current = (yaml.safe_load(listing.read_text()) or {}) if listing.is_file() else {}
    resources = sorted({*(current.get("resources") or []), spec.name})
    listing.write_text(
        "# Owned by deployment/service_gen.py: one folder per split-out model service.\n"
        + dump(
            {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}
        )
    )
    return folder


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--name", help="Kubernetes name of the new service (default: the model name in lowercase)")
    p.add_argument("--model", help="model package folder under the models directory, e.g. twolvlImp")
    p.add_argument(
        "--shared-volume",
        choices=["none", "file", "blob"],
        help="dataset volume: Azure Files share, Blob container, or none (embedded dataset); default file",
    )
    p.add_argument(
        "--volume-name",
        help="PersistentVolumeClaim to mount (default: sids-dataset for file, sids-dataset-blob for blob)",
    )
    p.add_argument("--cpu-request", help="default 500m")
    p.add_argument("--cpu-limit", help="default 2")
    p.add_argument("--memory-request", help="default 1Gi")
    p.add_argument("--memory-limit", help="default 4Gi")
    p.add_argument("--min-replicas", type=int, help="default 1")
    p.add_argument("--max-replicas", type=int, help="default 5")
    p.add_argument("--cpu-utilization", type=int, help="HPA CPU target in percent, default 50")
    p.add_argument("--node-pool", help="schedule on this AKS node pool (e.g. the Terraform 'heavy' pool)")
    p.add_argument(
        "--timeout",
        type=int,
        help="time limit of one computation (COMPUTE_TIMEOUT_SECONDS) "
        "in seconds, at most 3600, default 1800; the Gateway waits 30 s longer",
    )
    p.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR, help=argparse.SUPPRESS)
    p.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help="folder of generated services (default: the production overlay's services/)",
    )
    p.add_argument(
        "--interactive",
        action="store_true",
        help="ask for every value not given by a flag (the default in a terminal when flags are missing)",
    )
    p.add_argument(
        "--no-interactive",
        action="store_true",
        help="never ask: missing values take their defaults (--model is then required)",
    )
    p.add_argument("--stdout", action="store_true", help="print the manifests instead of writing files")
    return p.parse_args(argv)


DEFAULTS = {
    "shared_volume": "file",
    "cpu_request": "500m",
    "cpu_limit": "2",
    "memory_request": "1Gi",
    "memory_limit": "4Gi",
    "min_replicas": 1,
    "max_replicas": 5,
    "cpu_utilization": 50,
    "timeout": 1800,
}


def default_name(model: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")[:63] or "model"


def ask(question: str, default, check):
    """Prompt until `check` accepts the answer; an empty answer takes the default."""
    while True:
        shown = f" [{default}]" if default not in (None, "") else ""
        sys.stderr.write(f"{question}{shown}: ")
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:
            raise GenError(f"no answer for {question!r} (end of input)")
        answer = line.strip() or default
        try:
            if answer in (None, ""):
                raise GenError("a value is required")
            return check(answer)
        except (GenError, ValueError) as exc:
            sys.stderr.write(f"  {exc}\n")


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise GenError(f"{value!r} is not a whole number") from None


def collect(args: argparse.Namespace, interactive: bool) -> Spec:
    models_dir = args.models_dir.resolve()
    values = {
        k: getattr(args, k)
        for k in (
            "name",
            "model",
            "shared_volume",
            "volume_name",
            "cpu_request",
            "cpu_limit",
            "memory_request",
            "memory_limit",
            "min_replicas",
            "max_replicas",
            "cpu_utilization",
            "node_pool",
            "timeout",
        )
    }
    prefix = None
    if interactive:
        if values["model"] is None:
            sys.stderr.write(f"Available models: {', '.join(available_models(models_dir)) or 'none'}\n")

            def pick(model):
                nonlocal prefix
                prefix = model_prefix(models_dir, model)
                return model

            values["model"] = ask("Model", None, pick)
        existing = existing_services(args.output_dir)

        def pick_name(name):
            check_name(name)
            if name in existing:
                raise GenError(f"a service named {name!r} already exists")
            return name

        plan = [
            ("name", "Service name", default_name(values["model"]), pick_name),
            (
                "shared_volume",
                "Shared dataset volume (none/file/blob)",
                DEFAULTS["shared_volume"],
                lambda v: (
                    v
                    if v in ("none", "file", "blob")
                    else (_ for _ in ()).throw(GenError("answer none, file or blob"))
                ),
            ),
        ]
        for key, question, default, check in plan:
            if values[key] is None:
                values[key] = ask(question, default, check)
        if values["shared_volume"] != "none" and values["volume_name"] is None:
            values["volume_name"] = ask(
                "Volume claim name", VOLUME_CLAIMS[values["shared_volume"]], check_name
            )
        for key, question, check in [
            ("cpu_request", "CPU request", lambda v: (cpu_cores(v), v)[1]),
            ("cpu_limit", "CPU limit", lambda v: (cpu_cores(v), v)[1]),
            ("memory_request", "Memory request", lambda v: (memory_bytes(v), v)[1]),
            ("memory_limit", "Memory limit", lambda v: (memory_bytes(v), v)[1]),
            ("min_replicas", "Minimum replicas", _int),
            ("max_replicas", "Maximum replicas", _int),
        ]:
            if values[key] is None:
                values[key] = ask(question, DEFAULTS[key], check)
    if values["model"] is None:
        raise GenError("--model is required (or run in a terminal / with --interactive to be asked)")
    if prefix is None:
        prefix = model_prefix(models_dir, values["model"])
    if values["name"] is None:
        values["name"] = default_name(values["model"])
    for key, default in DEFAULTS.items():
        if values[key] is None:
            values[key] = default
    if values["shared_volume"] != "none" and values["volume_name"] is None:
        values["volume_name"] = VOLUME_CLAIMS[values["shared_volume"]]
    if values["shared_volume"] == "none":
        values["volume_name"] = None
    return Spec(prefix=prefix, **values)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prompted = (
        "name",
        "model",
        "shared_volume",
        "cpu_request",
        "cpu_limit",
        "memory_request",
        "memory_limit",
    )
    missing = any(getattr(args, key) is None for key in prompted)
    interactive = args.interactive or (missing and not args.no_interactive and sys.stdin.isatty())
    try:
        spec = collect(args, interactive)
        check_spec(spec, args.output_dir)
        if args.stdout:
            sys.stdout.write("".join("---\n" + dump(doc) for doc in build_manifests(spec).values()))
            return 0
        folder = write_service(spec, args.output_dir)
    except GenError as exc:
        sys.stderr.write(f"service_gen: refused: {exc}\n")
        return 1
    print(f"Wrote service {spec.name!r} (model {spec.model}, path prefix {spec.prefix}) to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
