"""An ONNX model scored by onnxruntime: built in the process that scores it (a compute process, where
the API process has them; otherwise this process), never in an API process that has compute processes,
so the API process does not hold onnxruntime (about 40 MiB with a session; issue 18)."""

from collections.abc import Sequence
from typing import Any

import numpy as np

from models._artifacts.spec import TEXT


class OnnxPredictor:
    """An onnxruntime session (one thread: each compute process runs one call at a time) whose inputs
    are the text (`text`) or one tensor per feature."""

    cheap = True

    def __init__(self, model_bytes: bytes, kind: str, feature_names: Sequence[str]) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        self.kind = kind
        names = [o.name for o in self.session.get_outputs()]
        self.output = "probabilities" if "probabilities" in names else names[-1]
        inputs = {i.name: i.type for i in self.session.get_inputs()}
        wanted = ["text"] if kind == TEXT else list(feature_names)
        missing = [name for name in wanted if name not in inputs]
        if missing:
            raise ValueError(f"the ONNX graph lacks inputs {', '.join(missing)}")
        self.float_inputs = {name for name, kind in inputs.items() if kind == "tensor(float)"}

    def _feeds(self, batch: Any) -> dict[str, np.ndarray]:
        if self.kind == TEXT:
            return {"text": np.array(batch, dtype=object).reshape(-1, 1)}
        feeds = {}
        for name, column in batch.items():
            if name in self.float_inputs:
                feeds[name] = np.asarray(column).astype(np.float32).reshape(-1, 1)
            else:
                feeds[name] = np.array(["" if v is None else v for v in column], dtype=object).reshape(-1, 1)
        return feeds

    def predict_proba(self, batch: Any) -> np.ndarray:
        (probabilities,) = self.session.run([self.output], self._feeds(batch))
        return np.asarray(probabilities, dtype=np.float64)
