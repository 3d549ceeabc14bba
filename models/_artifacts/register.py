"""Write a trained model into the store as a new version folder, with its metadata.

The folder is written under a temporary `_`-prefixed name and renamed at the end, so a serving
process never sees half a version.
"""

import hashlib
import json
import os
import platform
import zipfile
from datetime import UTC, datetime
from importlib.metadata import version as installed_version
from pathlib import Path

from models._artifacts.store import DRIFT_FILE, FORMATS, METADATA_FILE, ROUTING_FILE, sha256_file
from models._artifacts.training import Trained

FRAMEWORKS = ("scikit-learn", "skops", "onnx", "onnxruntime", "skl2onnx", "numpy", "scipy", "pandas")


def next_version(model_dir: Path) -> str:
    numbers = (
        [int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()]
        if model_dir.is_dir()
        else []
    )
    return str(max(numbers, default=0) + 1)


def frameworks() -> dict[str, str]:
    return {"python": platform.python_version(), **{name: installed_version(name) for name in FRAMEWORKS}}


def data_fingerprint(files: list[Path]) -> dict:
    hashes = {path.name: sha256_file(path) for path in files}
    combined = "".join(f"{name}:{digest}\n" for name, digest in sorted(hashes.items()))
    return {"files": hashes, "fingerprint": hashlib.sha256(combined.encode()).hexdigest()}


def _write_artifact(path: Path, artifact, fmt: str) -> None:
    if fmt == "onnx":
        path.write_bytes(artifact)
    else:
        import skops.io

        skops.io.dump(artifact, path, compression=zipfile.ZIP_DEFLATED)


def register(store: Path, trained: Trained, make_default: bool = False) -> str:
    """Save `trained` as the next version of its model; returns the version."""
    spec = trained.spec
    model_dir = Path(store) / spec.name
    model_dir.mkdir(parents=True, exist_ok=True)
    version = next_version(model_dir)
    staging = model_dir / f"_staging-{version}-{os.getpid()}"
    staging.mkdir()
    artifact_path = staging / FORMATS[trained.format]
    _write_artifact(artifact_path, trained.artifact, trained.format)
    metadata = {
        "name": spec.name,
        "version": version,
        "format": trained.format,
        "description": spec.description,
        "pipeline": trained.pipeline,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "input_schema": spec.input_schema(),
        "labels": list(spec.labels),
        "training_data": {**data_fingerprint(trained.data_files), "rows": trained.rows},
        "metrics": trained.metrics,
        "frameworks": frameworks(),
        "artifact_sha256": sha256_file(artifact_path),
    }
    (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    (staging / DRIFT_FILE).write_text(json.dumps(trained.reference) + "\n", encoding="utf-8")
    staging.rename(model_dir / version)
    if make_default:
        set_default(model_dir, version)
    return version


def set_default(model_dir: Path, version: str) -> None:
    path = model_dir / ROUTING_FILE
    routing = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    routing["default"] = version
    routing.setdefault("split", {})
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(routing, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(path)
