"""Step 3: choose the predictors (MANUAL, AFS = recursive feature elimination, PCA loadings)."""

import numpy as np

from models.twolvlImp.forest import fit_forest
from models.twolvlImp.training import forest_threads

RANKING_TREES = 30
RANKING_MAX_FEATURES = 0.3
DROP_FRACTION = 0.5
"""Each round after the first drops this share of the columns it ranked. Below a few dozen columns a
round's cost is almost all per-tree overhead, so halving takes 3 rounds from 50 columns to 10 where
dropping a quarter took 7; the CV RMSE moves within the ranking's noise, a few per cent either way
(bench/README.md)."""
SHORTLIST_FACTOR = 5
"""Elimination starts with a single ranking of every column that keeps this many times `n_select`."""


def elimination_schedule(columns: int, n_select: int) -> list[int]:
    """How many columns each round of `recursive_elimination` ranks, starting from `columns`: the
    first round ranks every column and keeps `SHORTLIST_FACTOR × n_select`; each later round drops
    the least important `DROP_FRACTION` (at least one, never below `n_select`)."""
    rounds, remaining = [], columns
    while remaining > n_select:
        rounds.append(remaining)
        if remaining > SHORTLIST_FACTOR * n_select:
            remaining = SHORTLIST_FACTOR * n_select
        else:
            remaining -= min(remaining - n_select, max(1, int(remaining * DROP_FRACTION)))
    return rounds


def recursive_elimination(
    X: np.ndarray, y: np.ndarray, weights: np.ndarray, n_select: int, seed: int, n_jobs: int = 2
) -> list[int]:
    """Column indices kept by recursive feature elimination down to `n_select` columns.

    Each round fits a random forest on the remaining columns and keeps the most important ones
    (`elimination_schedule`): one ranking of every column shortlists a few times `n_select` of
    them, then rounds drop half of them at a time, so the cost grows with the candidates once instead
    of with log(candidates) rounds over most of them. The ranking forest is smaller than the final
    model (fewer trees, a fraction of the features per split): it only has to order the columns.
    It is `RandomForestRegressor(RANKING_TREES, max_features=RANKING_MAX_FEATURES, random_state=seed)`
    grown by `forest.fit_forest`.
    """
    remaining = np.arange(X.shape[1])
    schedule = elimination_schedule(X.shape[1], n_select)
    for ranked, keep in zip(schedule, [*schedule[1:], n_select]):
        threads = forest_threads(RANKING_TREES, len(y), ranked * RANKING_MAX_FEATURES, n_jobs)
        ranking = fit_forest(
            "rfr",
            X[:, remaining],
            y,
            weights,
            RANKING_TREES,
            seed,
            threads,
            max_features=RANKING_MAX_FEATURES,
        )
        importances = ranking.feature_importances()
        least_first = np.argsort(importances, kind="stable")
        remaining = remaining[np.sort(least_first[ranked - keep :])]
    return remaining.tolist()


def pca_selection(X: np.ndarray, n_select: int, seed: int) -> list[int]:
    """Columns with the largest absolute loadings on the leading principal components.

    Component i contributes its strongest column not already chosen, so the answer always has
    `n_select` distinct columns; if there are fewer components than that, the remaining columns
    are the ones with the largest variance-weighted loadings overall.
    """
    from sklearn.decomposition import PCA

    std = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    components = min(n_select, *Z.shape)
    pca = PCA(n_components=components, svd_solver="full", random_state=seed).fit(Z)
    loadings = np.abs(pca.components_)
    chosen: list[int] = []
    for row in loadings:
        for column in np.argsort(-row, kind="stable"):
            if column not in chosen:
                chosen.append(int(column))
                break
    overall = pca.explained_variance_ratio_ @ loadings
    for column in np.argsort(-overall, kind="stable"):
        if len(chosen) >= n_select:
            break
        if column not in chosen:
            chosen.append(int(column))
    return sorted(chosen)


def select_columns(
    X: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    columns: tuple[str, ...],
    scheme: str,
    n_select: int | None,
    manual: list[str] | None,
    seed: int,
) -> list[int]:
    """Indices (into `columns`) of the predictors chosen by `scheme` (MANUAL, AFS or PCA)."""
    if scheme == "MANUAL":
        position = {name: i for i, name in enumerate(columns)}
        unknown = [name for name in manual or [] if name not in position]
        if unknown or not manual:
            raise ValueError(f"predictors not available for this target and year: {unknown}")
        return sorted(position[name] for name in manual)
    if n_select is None or not 1 <= n_select <= len(columns):
        raise ValueError(f"number_predictor must be between 1 and {len(columns)}")
    if scheme == "AFS":
        return recursive_elimination(X, y, weights, n_select, seed)
    if scheme == "PCA":
        return pca_selection(X, n_select, seed)
    raise ValueError(f"unknown scheme {scheme!r}")
