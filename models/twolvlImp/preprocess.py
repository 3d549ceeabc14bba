"""Step 1–2 of the two-level imputation: split a year's table and fill the predictors' gaps.

Plain functions on DataFrames/arrays; the imputer is always fitted on the training rows only.
"""

import io
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

PREDICTOR_MISSING_MAX = 30.0
TARGET_MISSING_MAX = 80.0
KNN_NEIGHBOURS = 5
ITERATIVE_MAX_ITER = 2
ITERATIVE_NEAREST = 10
ITERATIVE_TREES = 5


@dataclass(frozen=True)
class Prepared:
    """The imputed design matrices of one (year, target, interpolator); arrays are read-only."""

    columns: tuple[str, ...]
    train_countries: tuple[str, ...]
    predict_countries: tuple[str, ...]
    X_train: np.ndarray
    y_train: np.ndarray
    X_predict: np.ndarray
    is_sids_train: np.ndarray

    def to_bytes(self) -> bytes:
        """An .npz archive (no pickled objects) of the matrices, with the names as JSON."""
        buffer = io.BytesIO()
        names = {
            "columns": self.columns,
            "train_countries": self.train_countries,
            "predict_countries": self.predict_countries,
        }
        np.savez(
            buffer,
            names=np.frombuffer(json.dumps(names).encode(), dtype=np.uint8),
            X_train=self.X_train,
            y_train=self.y_train,
            X_predict=self.X_predict,
            is_sids_train=self.is_sids_train,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Prepared":
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            names = json.loads(archive["names"].tobytes())
            return cls(
                columns=tuple(names["columns"]),
                train_countries=tuple(names["train_countries"]),
                predict_countries=tuple(names["predict_countries"]),
                **{
                    field: _read_only(archive[field])
                    for field in ("X_train", "y_train", "X_predict", "is_sids_train")
                },
            )


def candidate_predictors(
    table: pd.DataFrame, target: str, missing_max: float = PREDICTOR_MISSING_MAX
) -> list[str]:
    """Columns other than the target missing in less than `missing_max` % of the target's rows."""
    train = table.loc[table[target].notna()]
    if train.empty:
        return []
    missing = train.isna().mean() * 100.0
    return [c for c in table.columns if c != target and missing[c] < missing_max]


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array


def knn_fill(X_train: np.ndarray, X: np.ndarray, k: int = KNN_NEIGHBOURS) -> np.ndarray:
    """Fill each gap of `X` with the mean of that column over the k nearest training rows that have it.

    Distances are NaN-aware Euclidean (as scikit-learn's KNNImputer, uniform weights); a row with
    no comparable donor gets the column's training mean. Vectorised per column instead of per cell.
    """
    filled = X.copy()
    missing = np.isnan(X)
    if not missing.any():
        return filled
    from sklearn.metrics.pairwise import nan_euclidean_distances

    distances = nan_euclidean_distances(X, X_train)
    distances[np.isnan(distances)] = np.inf
    observed = ~np.isnan(X_train)
    means = np.nanmean(X_train, axis=0)
    for column in np.flatnonzero(missing.any(axis=0)):
        rows = np.flatnonzero(missing[:, column])
        donors = np.flatnonzero(observed[:, column])
        if len(donors) == 0:
            filled[rows, column] = means[column]
            continue
        near = distances[np.ix_(rows, donors)]
        take = min(k, len(donors))
        nearest = np.argpartition(near, take - 1, axis=1)[:, :take]
        chosen = np.take_along_axis(near, nearest, axis=1)
        values = X_train[donors[nearest], column]
        usable = np.isfinite(chosen)
        counts = usable.sum(axis=1)
        sums = np.where(usable, values, 0.0).sum(axis=1)
        filled[rows, column] = np.where(counts > 0, sums / np.maximum(counts, 1), means[column])
    return filled


def make_imputer(kind: str, seed: int):
    """The scikit-learn imputer named `kind` (IterativeImputer or SimpleImputer)."""
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (registers IterativeImputer)
    from sklearn.impute import IterativeImputer, SimpleImputer

    if kind == "IterativeImputer":
        estimator = ExtraTreesRegressor(n_estimators=ITERATIVE_TREES, random_state=seed, n_jobs=1)
        return IterativeImputer(
            estimator=estimator,
            max_iter=ITERATIVE_MAX_ITER,
            n_nearest_features=ITERATIVE_NEAREST,
            skip_complete=True,
            random_state=seed,
        )
    if kind == "SimpleImputer":
        return SimpleImputer(strategy="mean")
    raise ValueError(f"unknown interpolator {kind!r}")


def impute(X_train: np.ndarray, X_predict: np.ndarray, kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fill gaps of both matrices with an imputer fitted on `X_train` only.

    KNN works on min-max scaled values (scaler also fitted on the training rows) and is scaled
    back. Columns entirely missing in the training rows never reach here (they are not candidates).
    """
    if kind == "KNNImputer":
        from sklearn.preprocessing import MinMaxScaler

        scaler = MinMaxScaler().fit(X_train)
        scaled_train = scaler.transform(X_train)
        fill = lambda X: scaler.inverse_transform(knn_fill(scaled_train, scaler.transform(X)))  # noqa: E731
    else:
        fill = make_imputer(kind, seed).fit(X_train).transform
    filled_train = fill(X_train)
    filled_predict = fill(X_predict) if len(X_predict) else np.empty((0, X_train.shape[1]))
    return filled_train, filled_predict


def iterative_neighbourhood(train: pd.DataFrame, needed: list[str], columns: list[str]) -> list[str]:
    """`needed` and, for each, the `ITERATIVE_NEAREST` candidate columns most correlated with it
    (absolute Pearson over the training rows, pairwise complete): the columns an iterative imputation
    of `needed` draws on (as IterativeImputer's `n_nearest_features`), in `columns` order."""
    others = train[[c for c in columns if c not in needed]]
    keep = set(needed)
    for column in needed:
        strength = others.corrwith(train[column]).abs().dropna()
        keep.update(strength.sort_values(ascending=False, kind="stable").index[:ITERATIVE_NEAREST])
    return [c for c in columns if c in keep]


def prepare(
    table: pd.DataFrame,
    target: str,
    sids: frozenset[str],
    kind: str,
    seed: int,
    needed: tuple[str, ...] = (),
) -> Prepared:
    """Training rows (countries with a target value), SIDS rows to predict, imputed predictors.

    `needed` (the MANUAL predictors) limits an IterativeImputer to those columns and their nearest
    neighbours, and the matrices to `needed`: the other ~400 candidate columns would be imputed only to
    be dropped. Nearest-neighbour and mean imputation are cheap enough to fill every candidate (and
    KNN's distances use them all), so they ignore it.
    """
    columns = candidate_predictors(table, target)
    if not columns:
        raise ValueError(
            f"no predictor has less than {PREDICTOR_MISSING_MAX:g} % missing values "
            f"among the countries that report {target}"
        )
    has_target = table[target].notna()
    train = table.loc[has_target]
    predict = table.loc[~has_target & table.index.isin(sids)]
    focused = kind == "IterativeImputer" and bool(needed) and set(needed) <= set(columns)
    imputed = iterative_neighbourhood(train, list(needed), columns) if focused else columns
    X_train, X_predict = impute(
        train[imputed].to_numpy(dtype=np.float64), predict[imputed].to_numpy(dtype=np.float64), kind, seed
    )
    if focused:
        kept = [imputed.index(c) for c in columns if c in needed]
        columns = [imputed[i] for i in kept]
        X_train, X_predict = X_train[:, kept], X_predict[:, kept]
    return Prepared(
        columns=tuple(columns),
        train_countries=tuple(train.index),
        predict_countries=tuple(predict.index),
        X_train=_read_only(X_train.astype(np.float64)),
        y_train=_read_only(train[target].to_numpy(dtype=np.float64)),
        X_predict=_read_only(X_predict),
        is_sids_train=_read_only(train.index.isin(sids)),
    )
