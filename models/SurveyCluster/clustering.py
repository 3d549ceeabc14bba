"""k-modes / k-means / k-prototypes with the elbow choice of k (plain numpy/scikit-learn/kmodes)."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.progress import Progress

SEED = 0
KMODES, KMEANS, KPROTOTYPES = "k-modes", "k-means", "k-prototypes"


@dataclass(frozen=True)
class Clustering:
    labels: list[int]
    k: int
    algorithm: str
    costs: list[float]
    """Cost of each k tried (1, 2, …), the curve the elbow was read from."""


def load_libraries() -> None:
    """Import kmodes and scikit-learn's parts used here (imported on first use, or by the model's
    COMPUTE_WARMUP)."""
    import kmodes.kprototypes  # noqa: F401
    import sklearn.cluster
    import sklearn.preprocessing  # noqa: F401


def elbow(costs: list[float]) -> int:
    """k (1-based) at the largest second difference of the cost curve.

    With fewer than three costs there is no second difference: one cost gives k = 1; two give 2 if
    splitting lowered the cost, else 1. Ties go to the smaller k.
    """
    if len(costs) == 1:
        return 1
    if len(costs) == 2:
        return 2 if costs[1] < costs[0] else 1
    second = np.asarray(costs[:-2]) - 2 * np.asarray(costs[1:-1]) + np.asarray(costs[2:])
    return int(np.argmax(second)) + 2


def _relabel(labels: np.ndarray) -> list[int]:
    """Renumber labels 0, 1, … in the order they first appear."""
    mapping: dict[int, int] = {}
    return [mapping.setdefault(int(label), len(mapping)) for label in labels]


def _fitter(categorical: pd.DataFrame, continuous: pd.DataFrame):
    """(algorithm, matrix, fit(k) -> (labels, cost)) for the given feature kinds."""
    from kmodes.kmodes import KModes
    from kmodes.kprototypes import KPrototypes
    from sklearn.preprocessing import StandardScaler

    scaled = StandardScaler().fit_transform(continuous.to_numpy()) if continuous.shape[1] else None
    if scaled is None:
        matrix = categorical.to_numpy(dtype=object)
        return (
            KMODES,
            matrix,
            lambda k: _result(KModes(n_clusters=k, init="Cao", n_init=1, random_state=SEED).fit(matrix)),
        )
    if categorical.shape[1] == 0:
        return KMEANS, scaled, lambda k: _kmeans(scaled, k)
    matrix = np.concatenate([categorical.to_numpy(dtype=object), scaled.astype(object)], axis=1)
    positions = list(range(categorical.shape[1]))
    return (
        KPROTOTYPES,
        matrix,
        lambda k: _result(
            KPrototypes(n_clusters=k, init="Cao", n_init=1, random_state=SEED, n_jobs=1).fit(
                matrix, categorical=positions
            )
        ),
    )


def _result(model) -> tuple[np.ndarray, float]:
    return model.labels_, float(model.cost_)


def _kmeans(matrix: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """One OpenMP thread: on small data, k-means' threads only spin against each other (30× slower
    on a busy two-core machine)."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="openmp"):
        model = KMeans(n_clusters=k, n_init=4, random_state=SEED).fit(matrix)
    return model.labels_, float(model.inertia_)


KMODES_UNITS_PER_SECOND = 100_000
KPROTOTYPES_UNITS_PER_SECOND = 40_000
KMEANS_UNITS_PER_SECOND = 5_000_000
"""Throughput in rows × questions × k per second, measured on a 2-core machine (bench/README.md)."""


def expected_seconds(rows: int, categorical: int, continuous: int, max_k: int) -> float:
    """Expected duration of `cluster_rows`: every k in 1..max_k is fitted, each in time about
    proportional to rows × questions × k."""
    if continuous == 0:
        rate = KMODES_UNITS_PER_SECOND
    elif categorical == 0:
        rate = KMEANS_UNITS_PER_SECOND
    else:
        rate = KPROTOTYPES_UNITS_PER_SECOND
    top = max(1, min(max_k, rows))
    return rows * (categorical + continuous) * top * (top + 1) / 2 / rate


def cluster_rows(
    categorical: pd.DataFrame,
    continuous: pd.DataFrame,
    max_k: int,
    progress: Progress | None = None,
) -> Clustering:
    """Cluster the rows on their categorical and continuous answers, k chosen by the elbow over
    1..max_k (capped at the number of distinct rows)."""
    algorithm, matrix, fit = _fitter(categorical, continuous)
    distinct = len(pd.DataFrame(matrix).drop_duplicates())
    top = max(1, min(max_k, distinct))
    fits = []
    for k in range(1, top + 1):
        if progress:
            progress(f"{algorithm} k={k}", 0.05 + 0.9 * (k - 1) / top)
        fits.append(fit(k))
    costs = [cost for _, cost in fits]
    k = elbow(costs)
    return Clustering(labels=_relabel(fits[k - 1][0]), k=k, algorithm=algorithm, costs=costs)
