"""Accuracy figures shared by the backtests: error scores and split-conformal quantiles (plain NumPy)."""

from typing import TypedDict

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, Field

COVERAGE = 0.90
"""Nominal coverage of every prediction interval the models report."""


class Scores(BaseModel):
    """The figures `scores()` returns, as a response model."""

    mae: float | None = Field(description="Mean absolute error over the hidden values scored.")
    rmse: float | None = Field(description="Root mean squared error over the hidden values scored.")
    coverage: float | None = Field(
        description="Share of the hidden values inside the 90 % interval (null: no interval)."
    )
    count: int = Field(description="Hidden values scored.")


class ScoreFigures(TypedDict):
    """What `scores()` returns (the fields of `Scores`)."""

    mae: float | None
    rmse: float | None
    coverage: float | None
    count: int


def scores(
    truth: np.ndarray,
    prediction: np.ndarray,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> ScoreFigures:
    """MAE, RMSE and interval coverage of predictions against hidden truths."""
    if len(truth) == 0:
        return {"mae": None, "rmse": None, "coverage": None, "count": 0}
    error = prediction - truth
    coverage = None if lower is None else float(np.mean((lower <= truth) & (truth <= upper)))
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "coverage": coverage,
        "count": len(truth),
    }


def conformal_quantile(values: ArrayLike, coverage: float = COVERAGE) -> float:
    """The ⌈coverage·(n + 1)⌉-th smallest value (the largest one when n is small): the split-conformal
    quantile that gives intervals at least `coverage` on exchangeable data."""
    ordered = np.sort(np.asarray(values, dtype=float))
    rank = min(len(ordered) - 1, int(np.ceil((len(ordered) + 1) * coverage)) - 1)
    return float(ordered[rank])
