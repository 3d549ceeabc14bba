"""Steps 3–6 on prepared matrices: select, train, predict, and assemble the year's result."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.plausibility import Support, clip_estimates
from common.progress import Progress
from common.telemetry import span
from models.twolvlImp.preprocess import Prepared
from models.twolvlImp.selection import select_columns
from models.twolvlImp.training import balanced_weights, train_and_predict

MIN_SIDS_FOR_RMSE = 5


@dataclass(frozen=True)
class Options:
    scheme: str
    model: str
    estimators: int
    interval: str
    number_predictor: int | None = None
    manual_predictors: tuple[str, ...] = ()
    seed: int = 0


def _no_progress(stage: str, fraction: float) -> None:
    return None


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def rmse_deviation(rmse: float, y: np.ndarray) -> float | None:
    """rmse / mean of the target, or rmse / its range when that ratio falls outside [0, 1]."""
    mean = float(np.mean(y))
    ratio = rmse / mean if mean else np.inf
    if 0 <= ratio <= 1:
        return float(ratio)
    spread = float(np.ptp(y))
    return float(rmse / spread) if spread else None


def sids_rmse(y: np.ndarray, oof: np.ndarray, is_sids: np.ndarray, overall: float) -> float:
    """CV RMSE over the SIDS training rows (the overall CV RMSE when fewer than 5 SIDS train)."""
    if int(np.sum(is_sids)) < MIN_SIDS_FOR_RMSE:
        return overall
    return float(np.sqrt(np.mean((y[is_sids] - oof[is_sids]) ** 2)))


def correlation(X: np.ndarray, names: list[str]) -> dict:
    """Pearson correlation of the selected predictors in split orient (null where undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        matrix = np.atleast_2d(np.corrcoef(X, rowvar=False)) if X.shape[1] > 1 else np.ones((1, 1))
    return {"index": names, "columns": names, "data": [[_finite(v) for v in row] for row in matrix]}


def run(
    prepared: Prepared,
    observed_sids: pd.Series,
    categories: pd.Series,
    options: Options,
    progress: Progress | None = None,
) -> dict:
    """The year's result: SIDS values (observed kept, missing imputed), intervals, importances.

    `observed_sids` holds the target's observed SIDS values; `categories` maps indicator code to
    category. Returns plain JSON-ready values (`sids_rmse`, the CV RMSE over the SIDS training
    rows, and `oof`, each training country's out-of-fold CV prediction, are for the history blend
    and not part of the response).
    """
    progress = progress or _no_progress
    weights = balanced_weights(prepared.is_sids_train)
    progress("selecting predictors", 0.3)
    with span("select_predictors", scheme=options.scheme, number_predictor=options.number_predictor):
        chosen = select_columns(
            prepared.X_train,
            prepared.y_train,
            weights,
            prepared.columns,
            options.scheme,
            options.number_predictor,
            list(options.manual_predictors),
            options.seed,
        )
    names = [prepared.columns[i] for i in chosen]
    progress("training", 0.55)
    with span("train", model=options.model, estimators=options.estimators, rows=len(prepared.y_train)):
        fitted = train_and_predict(
            prepared.X_train[:, chosen],
            prepared.y_train,
            weights,
            prepared.X_predict[:, chosen],
            options.model,
            options.estimators,
            options.interval,
            options.seed,
        )
    progress("assembling", 0.95)
    imputed = dict(zip(prepared.predict_countries, fitted.prediction.tolist()))
    data = {country: float(value) for country, value in observed_sids.dropna().items()} | imputed
    importances = dict(zip(names, fitted.importances.tolist()))
    by_category: dict[str, float] = {}
    for name, weight in importances.items():
        category = categories.get(name, "") or "Uncategorised"
        by_category[category] = by_category.get(category, 0.0) + weight
    return {
        "data": dict(sorted(data.items())),
        "lowerIntervals": dict(zip(prepared.predict_countries, fitted.lower.tolist())),
        "upperIntervals": dict(zip(prepared.predict_countries, fitted.upper.tolist())),
        "featureImportances": importances,
        "categoryImportances": dict(sorted(by_category.items())),
        "correlation": correlation(prepared.X_train[:, chosen], names),
        "rmse": fitted.rmse,
        "rmse_deviation": rmse_deviation(fitted.rmse, prepared.y_train),
        "model": fitted.kind,
        "max_depth": fitted.depth,
        "sids_rmse": sids_rmse(prepared.y_train, fitted.oof, prepared.is_sids_train, fitted.rmse),
        "oof": dict(zip(prepared.train_countries, fitted.oof.tolist())),
    }


def clip_to_support(result: dict, support: Support) -> dict:
    """`result` (run, or history.blend) with points and bounds clipped to the target's plausible
    range (SPEC §5.7), and `clipped` {country: [{field, raw}]} saying what changed."""
    data, lower, upper, clipped = clip_estimates(
        support, result["data"], result["lowerIntervals"], result["upperIntervals"]
    )
    return result | {"data": data, "lowerIntervals": lower, "upperIntervals": upper, "clipped": clipped}
