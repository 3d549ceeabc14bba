"""Scikit-learn pipelines the API process does not load, scored in compute processes (issue 18).

The API process scores text pipelines from their linear form (`linear.py`) and ONNX models itself;
any other skops artifact (flight_delay 1: a histogram gradient boosting pipeline) is scored by `score`
in a compute process (`common.processes`, reached through `runtime.ComputeProcessPredictor`), which
deserializes it once and keeps it by its sha256 for the calls after. `preload` does that ahead of time:
the artifact packages' `COMPUTE_WARMUP`, run where the compute processes are forked from, so that they
inherit the deserialized pipelines.
"""

import logging
import threading
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import Unavailable
from models._artifacts import derived
from models._artifacts.spec import TEXT
from models._artifacts.store import ArtifactError, ModelStore, deserialize_skops

log = logging.getLogger(__name__)

_pipelines: dict[str, Any] = {}
"""Deserialized pipelines of this process, by their artifact's sha256."""
_lock = threading.Lock()


def pipeline(path: Path, sha256: str, cache_dirs: list[Path]) -> Any:
    """The pipeline of the skops artifact at `path` with that sha256: deserialized on first use in this
    process (its sha256 checked again, its derived form read from `cache_dirs`), then kept."""
    with _lock:
        found = _pipelines.get(sha256)
        if found is None:
            found = _pipelines[sha256] = deserialize_skops(path, sha256, cache_dirs)
        return found


def loaded() -> set[str]:
    """The sha256 of the pipelines this process holds."""
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
    if kind == TEXT:
        inputs = batch
    else:
        import pandas as pd

        inputs = pd.DataFrame(batch)
    with _threadpools().limit(limits=1):
        return np.asarray(estimator.predict_proba(inputs), dtype=np.float64)


def _where(body: dict) -> tuple[Path, str, list[Path]]:
    return Path(body["path"]), body["sha256"], [Path(folder) for folder in body["cache_dirs"]]


def check(body: dict, _data: Any = None) -> dict:
    """A compute call: deserialize the pipeline here; `{"error": None}`, or why it cannot be served."""
    try:
        pipeline(*_where(body))
    except ArtifactError as exc:
        return {"error": str(exc)}
    return {"error": None}


def score(body: dict, _data: Any = None) -> list[list[float]]:
    """A compute call: the probabilities of `body["batch"]` (texts, or feature columns)."""
    try:
        estimator = pipeline(*_where(body))
    except ArtifactError as exc:
        raise Unavailable(f"{body['path']} cannot be served: {exc}") from None
    probabilities: list[list[float]] = predict(estimator, body["kind"], body["batch"]).tolist()
    return probabilities


def preload(store: ModelStore, names: Iterable[str] | None = None) -> None:
    """Deserialize here every skops pipeline of the models `names` (default: all) that the API process
    hands to compute processes (those without a linear form). A failure is left for the API process to
    find and report; it only costs the first call its load."""
    for name in store.model_names() if names is None else names:
        stored = store.get(name)
        for version in stored.versions.values() if stored is not None else ():
            sha256 = version.metadata["artifact_sha256"]
            if version.format != "skops" or derived.has_linear_form(sha256, version.cache_dirs):
                continue
            try:
                pipeline(version.artifact_path, sha256, version.cache_dirs)
            except ArtifactError as exc:
                log.warning("model %s version %s not preloaded: %s", name, version.version, exc)
