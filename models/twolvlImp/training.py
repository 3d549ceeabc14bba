"""Step 4–5: depth search with 5-fold CV, the final model and its 90 % prediction interval.

Forest depth search without refitting per depth: a tree grown with `max_depth=d` is the full tree
cut at depth d (every node's split depends only on the samples reaching it, and sklearn keeps the
weighted mean of every node, internal ones included; scikit-learn draws its random numbers as it
builds, so below the first level a few splits of a depth-limited tree can differ: the same model
with other draws). So each fold fits ONE full-depth forest and reads the prediction of every
candidate depth off the rows' paths from their leaves up. The final forest is the
same: fitted at full depth on every training row alongside the folds' forests (the depth is not
known yet), then cut at the chosen depth for its predictions, per-tree bounds and importances.
Gradient boosting has no such shortcut (each stage depends on the previous ones' depth), so its
grid is fitted for real, in parallel threads, and its final model after the search.
"""

from dataclasses import dataclass

import numpy as np

from common.telemetry import span
from models.twolvlImp.forest import ForestSpec, fit_forests, tree_input

FOREST_DEPTHS: tuple[int | None, ...] = (2, 3, 4, 6, 8, 12, None)
GBR_DEPTHS: tuple[int, ...] = (2, 3, 4, 6)
CV_FOLDS = 5
LOWER_PCT, UPPER_PCT = 5.0, 95.0
BOOTSTRAP_ROUNDS = 1000
FORESTS = ("rfr", "etr")
PARALLEL_WORK = 300_000
"""Forests with trees × rows × features below this fit faster on one thread (joblib overhead)."""


@dataclass(frozen=True)
class CutForest:
    """The final forest (every training row, full depth) read at the chosen depth."""

    per_tree: np.ndarray  # each tree's predictions of the rows to predict
    importances: np.ndarray  # impurity-based, as a forest grown to that depth reports them


@dataclass(frozen=True)
class Search:
    """Outcome of one model family's depth search."""

    kind: str
    depth: int | None
    mse: float
    oof: np.ndarray  # out-of-fold predictions at the best depth
    final: CutForest | None = None  # forests only, when the search was given the rows to predict


@dataclass(frozen=True)
class Fitted:
    kind: str
    depth: int | None
    rmse: float
    prediction: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    importances: np.ndarray
    oof: np.ndarray  # out-of-fold CV predictions of the training rows


def balanced_weights(is_sids: np.ndarray) -> np.ndarray:
    """Inverse class frequency weights, so SIDS and non-SIDS rows weigh the same in total."""
    n, n_sids = len(is_sids), int(np.sum(is_sids))
    if n_sids in (0, n):
        return np.ones(n)
    return np.where(is_sids, n / (2.0 * n_sids), n / (2.0 * (n - n_sids)))


def forest_threads(n_estimators: int, rows: int, split_features: float, n_jobs: int) -> int:
    return n_jobs if n_estimators * rows * split_features >= PARALLEL_WORK else 1


def make_model(kind: str, n_estimators: int, depth: int | None, seed: int, n_jobs: int = 1, **extra):
    from sklearn.ensemble import ExtraTreesRegressor, GradientBoostingRegressor, RandomForestRegressor

    if kind == "rfr":
        return RandomForestRegressor(
            n_estimators=n_estimators, max_depth=depth, random_state=seed, n_jobs=n_jobs
        )
    if kind == "etr":
        return ExtraTreesRegressor(
            n_estimators=n_estimators, max_depth=depth, random_state=seed, n_jobs=n_jobs
        )
    if kind == "gbr":
        return GradientBoostingRegressor(
            n_estimators=n_estimators, max_depth=depth, random_state=seed, **extra
        )
    raise ValueError(f"unknown model {kind!r}")


def cv_folds(n_rows: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold

    return list(
        KFold(n_splits=min(CV_FOLDS, n_rows), shuffle=True, random_state=seed).split(np.zeros(n_rows))
    )


def truncated_tree_predictions(trees: list, X: np.ndarray, depths) -> np.ndarray:
    """Per-tree predictions of a forest's `trees` (scikit-learn `Tree` structures) cut at each
    depth: shape (len(depths), trees, rows).

    A row's node at depth d is its leaf when the leaf lies no deeper, else the leaf's ancestor at
    depth d. The trees number their nodes depth first (a node, then its left subtree, then its right
    one), so that ancestor is the last node at depth d numbered before the leaf: a running maximum
    over the nodes gives every node's ancestor at every depth at once, whatever the tree's depth."""
    rows = np.ascontiguousarray(X, dtype=np.float32)  # the trees' own dtype, as `predict` converts
    limits = np.array([np.iinfo(np.intp).max if d is None else d for d in depths])[:, None]
    out = np.empty((len(depths), len(trees), len(X)))
    for t, tree in enumerate(trees):
        depth = tree.compute_node_depths() - 1  # the root's depth is 0
        ids = np.arange(tree.node_count)
        last_at_limit = np.maximum.accumulate(np.where(depth == limits, ids, 0), axis=1)
        cut = np.where(depth <= limits, ids, last_at_limit)  # (depths, nodes): the node each node reads
        out[:, t] = tree.value[:, 0, 0][cut[:, tree.apply(rows)]]
    return out


def truncated_importances(trees: list, n_features: int, depths) -> np.ndarray:
    """Impurity-based feature importances of a forest's `trees` (`Tree` structures) cut at each
    depth, shape (depths, features): what `feature_importances_` reports for the forest grown with
    that `max_depth` (per tree normalised to sum 1, averaged over the trees that split, normalised)."""
    summed = np.zeros((len(depths), n_features))
    for nodes in trees:
        internal = np.flatnonzero(nodes.children_left >= 0)
        if not len(internal):
            continue
        left, right = nodes.children_left[internal], nodes.children_right[internal]
        weighted, impurity = nodes.weighted_n_node_samples, nodes.impurity
        decrease = weighted[internal] * impurity[internal] - (
            weighted[left] * impurity[left] + weighted[right] * impurity[right]
        )
        depth = nodes.compute_node_depths()[internal] - 1  # the root's depth is 0
        for k, cut in enumerate(depths):
            kept = slice(None) if cut is None else depth < cut
            per_feature = np.bincount(
                nodes.feature[internal][kept], weights=decrease[kept], minlength=n_features
            )
            total = per_feature.sum()
            summed[k] += per_feature / total if total > 0 else per_feature
    totals = summed.sum(axis=1, keepdims=True)
    return np.divide(summed, totals, out=np.zeros_like(summed), where=totals > 0)


def search_forest(
    kind: str,
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    n_estimators: int,
    seed: int,
    n_jobs: int,
    X_predict: np.ndarray | None = None,
) -> Search:
    """Each fold's forest at full depth (and, given `X_predict`, the final forest on every row) is
    grown in one pool of `n_jobs` threads when their work is large enough (`forest.fit_forests`:
    the trees of `RandomForestRegressor`/`ExtraTreesRegressor` with `random_state=seed`), then every
    candidate depth is read off them."""
    folds = cv_folds(len(y), seed)
    rows, columns = X.shape
    X32, y64 = tree_input(X, y)
    w64 = np.asarray(w, dtype=np.float64)
    specs = [ForestSpec(kind, X32[train], y64[train], w64[train], n_estimators, seed) for train, _ in folds]
    if X_predict is not None:
        specs.append(ForestSpec(kind, X32, y64, w64, n_estimators, seed))
    forests = fit_forests(specs, forest_threads(n_estimators * len(specs), rows, columns, n_jobs))
    oof = np.empty((len(FOREST_DEPTHS), len(y)))
    fold_mse = np.empty((len(FOREST_DEPTHS), len(folds)))
    for f, ((_, test), forest) in enumerate(zip(folds, forests)):
        predictions = truncated_tree_predictions(forest.trees, X32[test], FOREST_DEPTHS).mean(axis=1)
        oof[:, test] = predictions
        fold_mse[:, f] = ((predictions - y[test]) ** 2).mean(axis=1)
    scores = fold_mse.mean(axis=1)
    best = int(np.argmin(scores))
    final = None
    if X_predict is not None:
        trees = forests[-1].trees
        per_tree = (
            truncated_tree_predictions(trees, X_predict, FOREST_DEPTHS[best : best + 1])[0]
            if len(X_predict)
            else np.empty((n_estimators, 0))
        )
        final = CutForest(per_tree, truncated_importances(trees, columns, FOREST_DEPTHS[best : best + 1])[0])
    return Search(kind, FOREST_DEPTHS[best], float(scores[best]), oof[best], final)


def _gbr_fold(X, y, w, train, test, depth, n_estimators, seed) -> np.ndarray:
    model = make_model("gbr", n_estimators, depth, seed).fit(X[train], y[train], sample_weight=w[train])
    return model.predict(X[test])


def search_gbr(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, n_estimators: int, seed: int, n_jobs: int
) -> Search:
    from joblib import Parallel, delayed

    folds = cv_folds(len(y), seed)
    tasks = [(depth, train, test) for depth in GBR_DEPTHS for train, test in folds]
    results = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_gbr_fold)(X, y, w, train, test, depth, n_estimators, seed) for depth, train, test in tasks
    )
    oof = np.empty((len(GBR_DEPTHS), len(y)))
    fold_mse = np.empty((len(GBR_DEPTHS), len(folds)))
    for i, ((_depth, _, test), predictions) in enumerate(zip(tasks, results)):
        d, f = divmod(i, len(folds))
        oof[d, test] = predictions
        fold_mse[d, f] = float(np.mean((predictions - y[test]) ** 2))
    scores = fold_mse.mean(axis=1)
    best = int(np.argmin(scores))
    return Search("gbr", GBR_DEPTHS[best], float(scores[best]), oof[best])


def search(kind: str, X, y, w, n_estimators: int, seed: int, n_jobs: int, X_predict=None) -> Search:
    """Best depth of one family (rfr, etr, gbr) or of all three (`all`), by 5-fold CV MSE. Given
    `X_predict`, a single forest family's search also fits its final forest (`Search.final`); `all`
    fits the winner's final model afterwards."""
    if kind == "all":
        searches = [search(k, X, y, w, n_estimators, seed, n_jobs) for k in ("rfr", "etr", "gbr")]
        return min(searches, key=lambda s: s.mse)
    if kind in FORESTS:
        return search_forest(kind, X, y, w, n_estimators, seed, n_jobs, X_predict)
    return search_gbr(X, y, w, n_estimators, seed, n_jobs)


def bootstrap_offsets(
    residuals: np.ndarray, seed: int, rounds: int = BOOTSTRAP_ROUNDS
) -> tuple[float, float]:
    """5th/95th percentiles of the CV residuals, each averaged over bootstrap resamples."""
    rng = np.random.default_rng(seed)
    samples = rng.choice(residuals, size=(rounds, len(residuals)), replace=True)
    low, high = np.percentile(samples, [LOWER_PCT, UPPER_PCT], axis=1)
    return float(low.mean()), float(high.mean())


def quantile_bounds(chosen: Search, model, X, y, w, X_predict, n_estimators: int, seed: int):
    """Per-tree percentiles for forests; quantile-loss boosting models for gbr."""
    if chosen.final is not None:
        return np.percentile(chosen.final.per_tree, [LOWER_PCT, UPPER_PCT], axis=0)
    if chosen.kind in FORESTS:
        per_tree = np.stack([tree.predict(X_predict) for tree in model.estimators_])
        return np.percentile(per_tree, [LOWER_PCT, UPPER_PCT], axis=0)
    bounds = []
    for pct in (LOWER_PCT, UPPER_PCT):
        quantile = make_model("gbr", n_estimators, chosen.depth, seed, loss="quantile", alpha=pct / 100)
        bounds.append(quantile.fit(X, y, sample_weight=w).predict(X_predict))
    return np.array(bounds)


def train_and_predict(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    X_predict: np.ndarray,
    kind: str,
    n_estimators: int,
    interval: str,
    seed: int,
    n_jobs: int = 2,
) -> Fitted:
    """Search, fit on all training rows, predict the missing rows with their 90 % interval.

    A single forest family's final forest comes from the search (`Search.final`); gbr and `all`
    refit the chosen model. Bounds are widened to contain the point prediction when a quantile
    model crosses it.
    """
    chosen = search(kind, X, y, w, n_estimators, seed, n_jobs, X_predict)
    model = None
    if chosen.final is None:
        rows, columns = X.shape
        threads = forest_threads(n_estimators, rows, columns, n_jobs)
        model = make_model(chosen.kind, n_estimators, chosen.depth, seed, threads).fit(X, y, sample_weight=w)
        importances = model.feature_importances_
        prediction = model.predict(X_predict) if len(X_predict) else np.empty(0)
    else:
        importances = chosen.final.importances
        prediction = chosen.final.per_tree.mean(axis=0)
    if len(X_predict):
        with span("intervals", interval=interval, rows=len(X_predict)):
            if interval == "bootstrap":
                low, high = bootstrap_offsets(y - chosen.oof, seed)
                lower, upper = prediction + low, prediction + high
            else:
                lower, upper = quantile_bounds(chosen, model, X, y, w, X_predict, n_estimators, seed)
        lower, upper = np.minimum(lower, prediction), np.maximum(upper, prediction)
    else:
        lower = upper = np.empty(0)
    return Fitted(
        kind=chosen.kind,
        depth=chosen.depth,
        rmse=float(np.sqrt(chosen.mse)),
        prediction=prediction,
        lower=lower,
        upper=upper,
        importances=np.asarray(importances, dtype=float),
        oof=chosen.oof,
    )
