"""Random forests (rfr) and extremely randomised trees (etr) fitted tree by tree in a tight loop.

The trees are the ones scikit-learn's `RandomForestRegressor` / `ExtraTreesRegressor` grow for the
same `random_state`, sample weights and parameters: the same per-tree seeds (drawn in order from
`RandomState(seed)`), the same weighted bootstrap draw for rfr (rows drawn with probability
proportional to their weight, the draw's counts as the tree's sample weights; etr fits every row
with its weight), the same splitter seeded with the tree's seed. What is left out is the ensemble's
per-tree Python around that — cloning the template tree (its parameters read through
`inspect.signature`), seeding it through `get_params`/`set_params`, a config and a warnings context
per tree, joblib's dispatch — which holds the GIL for about as long as growing a tree on a few
hundred rows takes, so two threads gained 1.3× instead of 2×. Here a tree costs one constructor and
one `fit(check_input=False)` (validation off: the matrix is converted once per forest), and every
tree of every forest of a request goes into one pool of threads, each taking the next tree as it
finishes one; building a tree releases the GIL.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

MAX_SEED = np.iinfo(np.int32).max
"""Per-tree seeds are drawn below this, as scikit-learn's ensembles draw them."""
KINDS = ("rfr", "etr")


@dataclass(frozen=True)
class ForestSpec:
    """One forest to grow. `X` float32 and `y` float64 of shape (rows, 1), both C-contiguous
    (`tree_input`); `weights` float64, one per row."""

    kind: str
    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    trees: int
    seed: int
    max_features: float = 1.0
    max_depth: int | None = None


@dataclass(frozen=True)
class Forest:
    trees: list  # fitted DecisionTreeRegressor (rfr) or ExtraTreeRegressor (etr)
    n_features: int

    def feature_importances(self) -> np.ndarray:
        """Impurity-based importances as scikit-learn's forests report them: each tree's normalised
        importances averaged over the trees that split, normalised to sum 1."""
        per_tree = [
            tree.tree_.compute_feature_importances() for tree in self.trees if tree.tree_.node_count > 1
        ]
        if not per_tree:
            return np.zeros(self.n_features)
        mean = np.asarray(per_tree, dtype=np.float64).mean(axis=0)
        return mean / np.sum(mean)


def tree_input(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`X` and `y` in the form trees are grown on (what a forest's `fit` converts them to)."""
    return np.ascontiguousarray(X, dtype=np.float32), np.ascontiguousarray(y, dtype=np.float64).reshape(-1, 1)


def tree_seeds(seed: int, trees: int) -> np.ndarray:
    return np.random.RandomState(seed).randint(MAX_SEED, size=trees)


def _grow(spec: ForestSpec, seed: int, draw_p: np.ndarray, rng: np.random.RandomState):
    """One tree of `spec` grown with `random_state=seed`. Its random numbers come from `rng` re-seeded
    with `seed` (the same stream as a new `RandomState(seed)`, without building a new generator,
    which takes ≈ 0.12 ms of the GIL each: scikit-learn builds three per tree)."""
    from sklearn.tree import DecisionTreeRegressor, ExtraTreeRegressor

    if spec.kind == "rfr":
        rows = len(spec.y)
        rng.seed(seed)
        drawn = rng.choice(rows, rows, replace=True, p=draw_p)
        weights = np.bincount(drawn, minlength=rows).astype(np.float64)
        tree = DecisionTreeRegressor(
            max_depth=spec.max_depth, max_features=spec.max_features, random_state=rng
        )
    else:
        weights = spec.weights
        tree = ExtraTreeRegressor(max_depth=spec.max_depth, max_features=spec.max_features, random_state=rng)
    rng.seed(seed)
    tree.fit(spec.X, spec.y, sample_weight=weights, check_input=False)
    tree.random_state = seed  # what it was grown with; `rng` serves the thread's next tree
    return tree


def fit_forests(specs: list[ForestSpec], n_jobs: int = 1) -> list[Forest]:
    """Grow every forest of `specs` on `n_jobs` threads (each takes the next tree of any forest);
    the trees depend on their seeds only, so the result does not depend on the threads."""
    from sklearn import config_context

    for spec in specs:
        if spec.kind not in KINDS:
            raise ValueError(f"unknown forest {spec.kind!r}")
    seeds = [tree_seeds(spec.seed, spec.trees) for spec in specs]
    draw_p = [spec.weights / np.sum(spec.weights) for spec in specs]
    grown: list[list] = [[None] * spec.trees for spec in specs]
    queue = iter([(f, t) for f, spec in enumerate(specs) for t in range(spec.trees)])
    lock = threading.Lock()

    def work() -> None:
        rng = np.random.RandomState()
        # scikit-learn's configuration is per thread
        with config_context(skip_parameter_validation=True, assume_finite=True):
            while True:
                with lock:
                    task = next(queue, None)
                if task is None:
                    return
                f, t = task
                grown[f][t] = _grow(specs[f], int(seeds[f][t]), draw_p[f], rng)

    if n_jobs <= 1:
        work()
    else:
        with ThreadPoolExecutor(n_jobs) as pool:
            for done in [pool.submit(work) for _ in range(n_jobs)]:
                done.result()
    return [Forest(trees, spec.X.shape[1]) for trees, spec in zip(grown, specs)]


def fit_forest(
    kind: str,
    X: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    trees: int,
    seed: int,
    n_jobs: int = 1,
    max_features: float = 1.0,
    max_depth: int | None = None,
) -> Forest:
    """One forest on `X`, `y` (any float arrays) with sample `weights`."""
    X32, y64 = tree_input(X, y)
    spec = ForestSpec(
        kind, X32, y64, np.asarray(weights, dtype=np.float64), trees, seed, max_features, max_depth
    )
    return fit_forests([spec], n_jobs)[0]
