"""Inference runtimes: one `predict_proba(batch) -> (n, n_labels) array` over a loaded artifact.

- `SklearnPredictor`: a skops-loaded scikit-learn pipeline, called directly.
- `LinearTextPredictor`: the same pipeline when it is TF-IDF + binary logistic regression, scored
  per text without scikit-learn's per-call validation (tens of microseconds instead of
  milliseconds); it is checked against the pipeline at load and used only when they agree.
- `OnnxPredictor`: an onnxruntime session (one thread; the process serves requests in parallel).
"""

import math
from typing import Any, Protocol

import numpy as np
import pandas as pd

from models._artifacts.spec import TEXT, ModelSpec

PROBE_TEXTS = ("", "great", "not good at all", "The food was GREAT but service slow!!", "ok ok ok")
AGREEMENT_TOLERANCE = 1e-9


class Predictor(Protocol):
    cheap: bool  # sub-millisecond for a few instances: may run inline on the event loop

    def predict_proba(self, batch: Any) -> np.ndarray: ...


class SklearnPredictor:
    cheap = False

    def __init__(self, pipeline: Any, spec: ModelSpec) -> None:
        self.pipeline = pipeline
        self.spec = spec

    def predict_proba(self, batch: Any) -> np.ndarray:
        inputs = batch if self.spec.kind == TEXT else pd.DataFrame(batch)
        return np.asarray(self.pipeline.predict_proba(inputs), dtype=np.float64)


class LinearTextPredictor:
    """TF-IDF (any analyzer) + binary LogisticRegression, scored text by text in plain Python.

    Uses the vectorizer's own analyzer, so tokens are exactly scikit-learn's; the arithmetic is
    the same as `TfidfTransformer` + `LogisticRegression.predict_proba` (binary, one-vs-rest).
    """

    cheap = True

    def __init__(self, pipeline: Any) -> None:
        vectorizer, classifier = pipeline.steps[0][1], pipeline.steps[-1][1]
        self.analyzer = vectorizer.build_analyzer()
        self.vocabulary = vectorizer.vocabulary_
        idf = vectorizer.idf_ if vectorizer.use_idf else np.ones(len(self.vocabulary))
        self.idf = idf.tolist()
        self.coef = classifier.coef_[0].tolist()
        self.intercept = float(classifier.intercept_[0])
        self.sublinear, self.binary, self.norm = vectorizer.sublinear_tf, vectorizer.binary, vectorizer.norm

    def _decision(self, text: str) -> float:
        counts: dict[int, int] = {}
        vocabulary = self.vocabulary
        for token in self.analyzer(text):
            index = vocabulary.get(token)
            if index is not None:
                counts[index] = counts.get(index, 0) + 1
        dot = scale = 0.0
        for index, count in counts.items():
            tf = 1.0 if self.binary else float(count)
            if self.sublinear:
                tf = math.log(tf) + 1.0
            value = tf * self.idf[index]
            dot += value * self.coef[index]
            scale += value * value if self.norm == "l2" else abs(value)
        if self.norm == "l2" and scale > 0:
            dot /= math.sqrt(scale)
        elif self.norm == "l1" and scale > 0:
            dot /= scale
        return dot + self.intercept

    def predict_proba(self, batch: list[str]) -> np.ndarray:
        rows = []
        for text in batch:
            decision = self._decision(text)
            if decision >= 0:
                positive = 1.0 / (1.0 + math.exp(-decision))
            else:
                exp = math.exp(decision)
                positive = exp / (1.0 + exp)
            rows.append((1.0 - positive, positive))
        return np.array(rows, dtype=np.float64).reshape(len(rows), 2)


def fast_text_path(pipeline: Any) -> LinearTextPredictor | None:
    """A `LinearTextPredictor` for a TF-IDF + binary LogisticRegression pipeline, if it agrees with
    the pipeline on probe texts; None for any other pipeline."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    if not (
        isinstance(pipeline, Pipeline)
        and len(pipeline.steps) == 2
        and type(pipeline.steps[0][1]) is TfidfVectorizer
        and type(pipeline.steps[1][1]) is LogisticRegression
        and len(pipeline.steps[1][1].classes_) == 2
        and pipeline.steps[0][1].norm in ("l1", "l2", None)
    ):
        return None
    fast = LinearTextPredictor(pipeline)
    probes = list(PROBE_TEXTS)
    if np.abs(fast.predict_proba(probes) - pipeline.predict_proba(probes)).max() > AGREEMENT_TOLERANCE:
        return None
    return fast


class OnnxPredictor:
    """An onnxruntime session whose inputs are the text (`text`) or one tensor per feature."""

    cheap = True

    def __init__(self, model_bytes: bytes, spec: ModelSpec) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        self.spec = spec
        names = [o.name for o in self.session.get_outputs()]
        self.output = "probabilities" if "probabilities" in names else names[-1]
        inputs = {i.name: i.type for i in self.session.get_inputs()}
        wanted = ["text"] if spec.kind == TEXT else spec.feature_names
        missing = [name for name in wanted if name not in inputs]
        if missing:
            raise ValueError(f"the ONNX graph lacks inputs {', '.join(missing)}")
        self.float_inputs = {name for name, kind in inputs.items() if kind == "tensor(float)"}

    def _feeds(self, batch: Any) -> dict[str, np.ndarray]:
        if self.spec.kind == TEXT:
            return {"text": np.array(batch, dtype=object).reshape(-1, 1)}
        feeds = {}
        for name, column in batch.items():
            if name in self.float_inputs:
                feeds[name] = column.astype(np.float32).reshape(-1, 1)
            else:
                feeds[name] = np.array(["" if v is None else v for v in column], dtype=object).reshape(-1, 1)
        return feeds

    def predict_proba(self, batch: Any) -> np.ndarray:
        (probabilities,) = self.session.run([self.output], self._feeds(batch))
        return np.asarray(probabilities, dtype=np.float64)


def make_predictors(artifact: Any, fmt: str, spec: ModelSpec) -> tuple[Predictor, Predictor]:
    """(predictor for a few instances, predictor for large batches) of one loaded artifact."""
    if fmt == "onnx":
        predictor = OnnxPredictor(artifact, spec)
        return predictor, predictor
    if not hasattr(artifact, "predict_proba"):
        raise ValueError(f"the artifact ({type(artifact).__name__}) has no predict_proba")
    full = SklearnPredictor(artifact, spec)
    fast = fast_text_path(artifact) if spec.kind == TEXT else None
    return fast or full, full
