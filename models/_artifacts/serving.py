"""Serving state of trained-artifact models in one process: the servable versions of each model,
version choice (default, explicit, weighted A/B split), scoring with metrics, and the recent
inputs kept for drift. No HTTP here; errors are `ValueError` subclasses the routers map.

An `ArtifactModel` is built from the verified versions alone (no deserialization); `prepare()` reads
what each version is served from and builds its predictor, once (the model's WARMUP does it after
readiness; a request arriving first waits for it): a pipeline scored by compute processes is
deserialized there. A version that fails there is skipped from then on.
"""

import logging
import random
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import numpy as np

from common.metrics import ARTIFACT_LATENCY, ARTIFACT_PREDICTIONS
from models._artifacts import drift
from models._artifacts.runtime import ComputeProcessPredictor, Predictor, make_predictor
from models._artifacts.spec import TEXT, Feature, ModelSpec
from models._artifacts.store import ArtifactError, ModelStore, StoredModel, StoredVersion, version_key

log = logging.getLogger(__name__)

WINDOW = 5_000
INLINE_MAX = 16


class UnknownVersion(ValueError):
    pass


class Window:
    """The most recent inputs of one version (texts, or values per feature), for drift."""

    def __init__(self, spec: ModelSpec) -> None:
        self.kind = spec.kind
        self.texts: deque = deque(maxlen=WINDOW)
        self.columns: dict[str, deque] = {name: deque(maxlen=WINDOW) for name in spec.feature_names}
        self.lock = threading.Lock()

    def add(self, batch: Any) -> None:
        with self.lock:
            if self.kind == TEXT:
                self.texts.extend(batch)
            else:
                for name, values in batch.items():
                    self.columns[name].extend(values.tolist())

    def snapshot(self) -> Any:
        with self.lock:
            if self.kind == TEXT:
                return list(self.texts)
            return {name: list(values) for name, values in self.columns.items()}


@dataclass
class ServedVersion:
    """A servable version; `predictor` is set by `ArtifactModel.prepare` before it serves."""

    stored: StoredVersion
    window: Window
    counter: Any = field(repr=False)
    latency: Any = field(repr=False)
    predictor: Predictor = field(init=False, repr=False)

    @property
    def version(self) -> str:
        return self.stored.version

    def _scored(self, batch: Any, size: int, started: float) -> None:
        self.latency.observe(time.perf_counter() - started)
        self.counter.inc(size)
        self.window.add(batch)

    def score(self, batch: Any, size: int) -> np.ndarray:
        """Probabilities (n × labels) of a prepared batch; counts it in metrics and the drift window
        (blocking: on the event loop only when `runs_inline`)."""
        started = time.perf_counter()
        probabilities = self.predictor.predict_proba(batch)
        self._scored(batch, size, started)
        return probabilities

    def offloaded(self) -> bool:
        """Whether a compute process scores this version (`score_async` awaits it on the event loop)."""
        predictor = self.predictor
        return isinstance(predictor, ComputeProcessPredictor) and predictor.pool() is not None

    async def score_async(self, batch: Any, size: int) -> np.ndarray:
        """`score` of a version that a compute process scores, awaited on the event loop."""
        predictor = self.predictor
        if not isinstance(predictor, ComputeProcessPredictor):
            raise TypeError(f"version {self.version} is scored in this process: use score")
        started = time.perf_counter()
        probabilities = await predictor.predict_proba_async(batch)
        self._scored(batch, size, started)
        return probabilities

    def runs_inline(self, size: int) -> bool:
        return size <= INLINE_MAX and self.predictor.cheap


def spec_from_metadata(metadata: dict) -> ModelSpec:
    """A spec for a stored model that has no package of its own (served by the V2 protocol only)."""
    schema = metadata["input_schema"]
    features = tuple(
        Feature(f["name"], f["type"], "", f.get("minimum"), f.get("maximum"), f.get("integer", False))
        for f in schema.get("features", ())
    )
    return ModelSpec(
        name=metadata["name"],
        label=metadata["name"],
        kind=schema["kind"],
        description=metadata.get("description", ""),
        labels=tuple(metadata["labels"]),
        examples=(),
        features=features,
    )


class ArtifactModel:
    """The servable versions of one stored model and how requests are routed among them."""

    def __init__(self, spec: ModelSpec, stored: StoredModel, windows: dict[str, Window]) -> None:
        self.spec = spec
        self.stored = stored
        self.skipped = dict(stored.failures)
        self.versions: dict[str, ServedVersion] = {}
        self.prepared = False
        self._prepare_lock = threading.Lock()
        for name, version in stored.versions.items():
            problem = spec.mismatch(version.metadata)
            if problem:
                self.skipped[name] = problem
                continue
            window = windows.setdefault(name, Window(spec))
            self.versions[name] = ServedVersion(
                version,
                window,
                ARTIFACT_PREDICTIONS.labels(model=spec.name, version=name),
                ARTIFACT_LATENCY.labels(model=spec.name, version=name),
            )
        self._random = random.Random(spec.name)
        self._route()

    def _route(self) -> None:
        routing = self.stored.routing
        self.default = (
            routing.default
            if routing.default in self.versions
            else (max(self.versions, key=version_key) if self.versions else None)
        )
        split = {v: w for v, w in routing.split.items() if v in self.versions}
        self.split = split
        self._split_names = list(split)
        self._split_edges = list(accumulate(split.values()))

    def prepare(self) -> "ArtifactModel":
        """Build every version's predictor from what it is served from (blocking: call it off the event
        loop); once, later callers wait for it. A version that cannot be served is skipped with its
        reason, and the routing is worked out again without it."""
        if self.prepared:
            return self
        with self._prepare_lock:
            if self.prepared:
                return self
            versions, skipped = dict(self.versions), dict(self.skipped)
            for name, served in self.versions.items():
                try:
                    served.predictor = make_predictor(served.stored, self.spec)
                except ArtifactError as exc:
                    skipped[name] = str(exc)
                except Exception as exc:
                    skipped[name] = f"no runtime could serve it ({type(exc).__name__}: {exc})"
                if name in skipped:
                    del versions[name]
                    log.error("model %s version %s skipped: %s", self.spec.name, name, skipped[name])
            self.versions, self.skipped = versions, skipped
            self._route()
            self.prepared = True
        return self

    def choose(self, requested: str | None) -> ServedVersion:
        """The explicitly requested version, else a weighted draw of the A/B split, else the default."""
        if requested is not None:
            served = self.versions.get(requested)
            if served is None:
                raise UnknownVersion(
                    f"version {requested!r} of {self.spec.name} is not served; "
                    f"served versions: {', '.join(self.versions) or 'none'}"
                )
            return served
        if self._split_names:
            draw = self._random.random() * self._split_edges[-1]
            for name, edge in zip(self._split_names, self._split_edges):
                if draw < edge:
                    return self.versions[name]
        if self.default is None:
            raise UnknownVersion(f"{self.spec.name} has no servable version")
        return self.versions[self.default]

    def describe(self) -> dict:
        total = sum(self.split.values())
        return {
            "model": self.spec.name,
            "default_version": self.default,
            "traffic_split": {v: round(w / total, 6) for v, w in self.split.items()},
            "versions": [
                {
                    "version": v.version,
                    "format": v.stored.format,
                    "created": v.stored.metadata["created"],
                    "pipeline": v.stored.metadata.get("pipeline"),
                    "held_out": v.stored.metadata["metrics"].get("held_out"),
                }
                for v in self.versions.values()
            ],
            "skipped": self.skipped,
            **({"routing_error": self.stored.routing_error} if self.stored.routing_error else {}),
        }

    def drift(self, version: str | None) -> dict:
        served = self.choose(version or self.default)
        return {
            "model": self.spec.name,
            "version": served.version,
            **drift.drift_report(served.stored.drift_reference, served.window.snapshot()),
        }


class Registry:
    """Every artifact model of one app, rebuilt from the store when the store reloads a model."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self._models: dict[str, ArtifactModel] = {}
        self._windows: dict[str, dict[str, Window]] = {}

    def model(self, name: str, spec: ModelSpec | None = None) -> ArtifactModel | None:
        stored = self.store.get(name)
        if stored is None:
            return None
        cached = self._models.get(name)
        if cached is not None and cached.stored is stored and (spec is None or cached.spec == spec):
            return cached
        if spec is None:
            default_name = stored.default_version
            default = stored.versions.get(default_name) if default_name is not None else None
            if default is None:
                return None
            spec = cached.spec if cached is not None else spec_from_metadata(default.metadata)
        model = ArtifactModel(spec, stored, self._windows.setdefault(name, {}))
        self._models[name] = model
        return model

    def names(self) -> list[str]:
        return self.store.model_names()


_registries: "weakref.WeakKeyDictionary[ModelStore, Registry]" = weakref.WeakKeyDictionary()
_registries_lock = threading.Lock()


def registry_for(store: ModelStore) -> Registry:
    """The one registry of a loaded store, so an app's endpoints and the batch jobs it runs share
    serving state (drift windows); a queue worker gets one over the store it loaded."""
    with _registries_lock:
        registry = _registries.get(store)
        if registry is None:
            registry = _registries[store] = Registry(store)
        return registry
