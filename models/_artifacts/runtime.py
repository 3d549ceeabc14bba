"""Inference runtimes: one `predict_proba(batch) -> (n, n_labels) array` per servable version, built
from what the API process serves it from (`StoredVersion.serving_form`), without scikit-learn or
onnxruntime:

- `LinearTextPredictor`: a TF-IDF + binary logistic regression text pipeline, from its linear form
  (`linear.py`), text by text in plain Python (tens of microseconds instead of milliseconds);
- `ComputeProcessPredictor`: an ONNX model or any other scikit-learn pipeline, scored by a compute
  process (`pipelines.py`), or in this process where it is one, a queue worker, or has no compute
  processes (an ONNX model then by the process's one `onnx_session.OnnxPredictor` of that artifact,
  `pipelines.pipeline`, which the compute warm-up may already have built).
"""

import asyncio
import json
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from models._artifacts import pipelines
from models._artifacts.linear import LinearTextModel
from models._artifacts.spec import TEXT, ModelSpec
from models._artifacts.store import ArtifactError, StoredVersion

if TYPE_CHECKING:
    from common.processes import ProcessPool


class Predictor(Protocol):
    cheap: bool  # sub-millisecond for a few instances: may run inline on the event loop

    def predict_proba(self, batch: Any) -> np.ndarray: ...


class LinearTextPredictor:
    cheap = True

    def __init__(self, model: LinearTextModel) -> None:
        self.model = model

    def predict_proba(self, batch: list[str]) -> np.ndarray:
        return self.model.predict_proba(batch)


def _call_timeout() -> float:
    """The time limit of one synchronous computation (COMPUTE_TIMEOUT_SECONDS, held by the app's pool)."""
    from common.compute import get_pool

    return get_pool().timeout


def _probabilities(payload: bytes) -> np.ndarray:
    return np.asarray(json.loads(payload), dtype=np.float64)


class ComputeProcessPredictor:
    """An artifact this process does not load (a scikit-learn pipeline, an ONNX model): each batch is a
    `common.calls.Call` to a compute process (`pipelines.score`), which loads the artifact once and
    keeps it; the calls are quick ones (`ProcessPool.run(quick=True)`: the processes reserved by
    COMPUTE_SCORING_WORKERS first, so they do not wait behind long model computations). Where there
    are no compute processes to send it to (in a compute process itself, a queue worker, or
    COMPUTE_ISOLATION=thread), it is loaded and scored here."""

    cheap = False

    def __init__(self, stored: StoredVersion, spec: ModelSpec) -> None:
        self.stored = stored
        self.kind = spec.kind
        self.target = pipelines.target(stored)

    @staticmethod
    def pool() -> "ProcessPool | None":
        """The compute processes to score in, or None to score here."""
        from common.calls import in_compute_process
        from common.compute import installed_processes

        pool = installed_processes()
        if pool is None or pool.isolation != "process" or in_compute_process():
            return None
        return pool

    def _here(self) -> Any:
        return pipelines.pipeline(self.target)

    def check(self) -> None:
        """Have the pipeline deserialized where it is scored (blocking; not on the event loop);
        ArtifactError if it cannot be."""
        from common.calls import Call

        pool = self.pool()
        if pool is None:
            self._here()
            return
        answer = json.loads(
            asyncio.run(pool.run(Call.of(pipelines.check, self.target), _call_timeout(), quick=True))
        )
        if answer["error"] is not None:
            raise ArtifactError(answer["error"])

    def predict_proba(self, batch: Any) -> np.ndarray:
        """Blocking (not on the event loop: `predict_proba_async` there)."""
        pool = self.pool()
        if pool is None:
            return pipelines.predict(self._here(), self.kind, batch)
        return asyncio.run(self._remote(pool, batch))

    async def predict_proba_async(self, batch: Any) -> np.ndarray:
        """On the event loop: awaits the compute process (or scores here on the compute pool)."""
        pool = self.pool()
        if pool is None:
            from common.compute import run_cpu

            return await run_cpu(self.predict_proba, batch)
        return await self._remote(pool, batch)

    async def _remote(self, pool: "ProcessPool", batch: Any) -> np.ndarray:
        from common.calls import Call

        call = Call.of(pipelines.score, {**self.target, "batch": batch})
        payload = await pool.run(call, _call_timeout(), quick=True)  # the reserved scoring lane
        return _probabilities(payload)


def make_predictor(stored: StoredVersion, spec: ModelSpec) -> Predictor:
    """The predictor of a verified version (blocking: it reads the version's serving form, and has an
    artifact scored elsewhere loaded there); ArtifactError (or another error) if it cannot serve."""
    if stored.format == "onnx":
        if ComputeProcessPredictor.pool() is None:
            onnx_predictor: Predictor = pipelines.pipeline(pipelines.target(stored))
            return onnx_predictor
    elif isinstance(form := stored.serving_form, LinearTextModel) and spec.kind == TEXT:
        return LinearTextPredictor(form)
    predictor = ComputeProcessPredictor(stored, spec)
    predictor.check()
    return predictor
