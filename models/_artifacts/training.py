"""What training hands to the store: a `Trained` model (registered by `register.py`) and the held-out
classification metrics recorded in its metadata. Each model's own procedure is in
`models/<name>/training.py`."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models._artifacts.spec import ModelSpec

SEED = 2015


@dataclass
class Trained:
    spec: ModelSpec
    artifact: Any
    format: str
    pipeline: str
    metrics: dict[str, Any]
    data_files: list[Path]
    rows: int
    reference: dict[str, Any]


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, float | int]:
    from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, log_loss, roc_auc_score

    predicted = (probabilities >= 0.5).astype(int)
    majority = max(y_true.mean(), 1 - y_true.mean())
    return {
        "rows": int(y_true.size),
        "roc_auc": round(float(roc_auc_score(y_true, probabilities)), 4),
        "accuracy": round(float(accuracy_score(y_true, predicted)), 4),
        "majority_class_accuracy": round(float(majority), 4),
        "f1": round(float(f1_score(y_true, predicted)), 4),
        "log_loss": round(float(log_loss(y_true, probabilities)), 4),
        "brier": round(float(brier_score_loss(y_true, probabilities)), 4),
    }
