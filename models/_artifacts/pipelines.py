"""Artifacts the API process does not load, scored in compute processes (issue 18).

The API process scores text pipelines from their linear form (`linear.py`) itself; any other skops
artifact (flight_delay 1: a histogram gradient boosting pipeline) and every ONNX model (flight_delay 2;
onnxruntime and a session hold about 40 MiB) is scored by `score` in a compute process
(`common.processes`, reached through `runtime.ComputeProcessPredictor`), which loads it once and keeps
it by its sha256 for the calls after. `preload` does that ahead of time: the artifact packages'
`COMPUTE_WARMUP`, run where the compute processes are forked from, so that they inherit what it loaded.
"""

import logging
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from common import forksafe
from common.errors import Unavailable
from models._artifacts import derived
from models._artifacts.onnx_session import OnnxPredictor
from models._artifacts.spec import TEXT
from models._artifacts.store import ArtifactError, ModelStore, StoredVersion, deserialize_skops, read_onnx

log = logging.getLogger(__name__)

_pipelines: dict[str, Any] = {}
"""Loaded artifacts of this process (pipelines, ONNX sessions), by their artifact's sha256."""
_lock = forksafe.Lock()


def target(stored: StoredVersion) -> dict[str, Any]:
    """What a compute call needs to find and load a version's artifact (JSON-able)."""
    schema = stored.metadata["input_schema"]
    return {
        "path": str(stored.artifact_path),
        "sha256": stored.metadata["artifact_sha256"],
        "cache_dirs": [str(folder) for folder in stored.cache_dirs],
        "format": stored.format,
        "kind": schema["kind"],
        "features": [feature["name"] for feature in schema.get("features", ())],
    }


def _load(where: dict[str, Any]) -> Any:
    path, sha256 = Path(where["path"]), where["sha256"]
    cache_dirs = [Path(folder) for folder in where["cache_dirs"]]
    if where["format"] == "onnx":
        model_bytes = read_onnx(path, sha256, cache_dirs)
        try:
            return OnnxPredictor(model_bytes, where["kind"], where["features"])
        except Exception as exc:  # onnxruntime's own errors (an unsupported operator, a bad graph)
            raise ArtifactError(
                f"onnxruntime cannot serve {path.name} ({type(exc).__name__}: {exc})"
            ) from None
    return deserialize_skops(path, sha256, cache_dirs)


def pipeline(where: dict[str, Any]) -> Any:
    """The loaded artifact of a `target`: loaded on first use in this process (its sha256 checked
    again, its derived form read from its cache folders), then kept."""
    with _lock:
        found = _pipelines.get(where["sha256"])
        if found is None:
            found = _pipelines[where["sha256"]] = _load(where)
        return found


def loaded() -> set[str]:
    """The sha256 of the artifacts this process holds."""
    return set(_pipelines)


@cache
def _threadpools() -> Any:
    """The process's native thread pools (OpenMP, BLAS), found once a pipeline is loaded."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def predict(estimator: Any, kind: str, batch: Any) -> np.ndarray:
    """(n, labels) probabilities of a batch in serving form: texts, or feature columns. On one native
    thread, as the ONNX sessions: each compute process runs one computation, and for a few rows the
    OpenMP threads of a boosting model cost more than they save (about 4× on a busy 2-core machine)."""
    if isinstance(estimator, OnnxPredictor):
        return estimator.predict_proba(batch)
    if kind == TEXT:
        inputs = batch
    else:
        import pandas as pd

        inputs = pd.DataFrame(batch)
    with _threadpools().limit(limits=1):
        return np.asarray(estimator.predict_proba(inputs), dtype=np.float64)


def check(body: dict, _data: Any = None) -> dict:
    """A compute call: load the artifact here; `{"error": None}`, or why it cannot be served."""
    try:
        pipeline(body)
    except ArtifactError as exc:
        return {"error": str(exc)}
    return {"error": None}


def score(body: dict, _data: Any = None) -> list[list[float]]:
    """A compute call: the probabilities of `body["batch"]` (texts, or feature columns)."""
    try:
        estimator = pipeline(body)
    except ArtifactError as exc:
        raise Unavailable(f"{body['path']} cannot be served: {exc}") from None
    probabilities: list[list[float]] = predict(estimator, body["kind"], body["batch"]).tolist()
    return probabilities


def preload(store: ModelStore, names: Iterable[str] | None = None) -> None:
    """Load here every artifact of the models `names` (default: all) that the API process hands to
    compute processes (ONNX models, skops pipelines without a linear form). A failure is left for the
    API process to find and report; it only costs the first call its load."""
    for name in store.model_names() if names is None else names:
        stored = store.get(name)
        for version in stored.versions.values() if stored is not None else ():
            sha256 = version.metadata["artifact_sha256"]
            if version.format == "skops" and derived.has_linear_form(sha256, version.cache_dirs):
                continue
            try:
                pipeline(target(version))
            except ArtifactError as exc:
                log.warning("model %s version %s not preloaded: %s", name, version.version, exc)
