"""Random forests (rfr) and extremely randomised trees (etr) grown tree by tree in a tight loop.

The trees are the ones scikit-learn's `RandomForestRegressor` / `ExtraTreesRegressor` grow for the
same `random_state`, sample weights and parameters (squared error, `min_samples_leaf` 1, the given
`max_features` and `max_depth`, everything else at its default): the same per-tree seeds (drawn in
order from `RandomState(seed)`), the same weighted bootstrap draw for rfr (rows drawn with
probability proportional to their weight, the draw's counts as the tree's sample weights; etr fits
every row with its weight), the same splitter seeded from the tree's seed
(tests/models/twolvlImp/test_twolvlimp_forest.py checks every node against scikit-learn's).

What is left out is the Python around each tree, which holds the GIL for longer than growing a tree
on a few hundred rows takes (so two threads gained 1.3× instead of 2×): the ensemble's cloning of
the template tree (its parameters read through `inspect.signature`), seeding it through
`get_params`/`set_params`, three new `RandomState`s (≈ 0.12 ms each: here one generator per thread
is re-seeded, the same stream), a config and a warnings context, joblib's dispatch; then the tree
estimator's own checks and tags. A tree here is scikit-learn's tree builder called directly
(`sklearn.tree._tree`, `_splitter`, `_criterion`: private modules, so scikit-learn is pinned in
requirements.txt and the test above fails if an upgrade changes them), and every tree of every
forest of a request goes into one pool of threads, each taking the next tree as it finishes one;
the builder releases the GIL while it grows a tree.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

MAX_SEED = np.iinfo(np.int32).max
"""Per-tree seeds are drawn below this, as scikit-learn's ensembles draw them."""
KINDS = ("rfr", "etr")
MIN_SAMPLES_SPLIT, MIN_SAMPLES_LEAF = 2, 1
UNLIMITED_DEPTH = np.iinfo(np.int32).max
"""The builder's `max_depth` for "grow until the leaves are pure", as scikit-learn passes it."""


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
    trees: list  # scikit-learn's `Tree` structures (what a fitted tree estimator holds as `tree_`)
    n_features: int

    def feature_importances(self) -> np.ndarray:
        """Impurity-based importances as scikit-learn's forests report them: each tree's normalised
        importances averaged over the trees that split, normalised to sum 1."""
        per_tree = [tree.compute_feature_importances() for tree in self.trees if tree.node_count > 1]
        if not per_tree:
            return np.zeros(self.n_features)
        mean = np.asarray(per_tree, dtype=np.float64).mean(axis=0)
        return mean / np.sum(mean)


def tree_input(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`X` and `y` in the form trees are grown on (what a forest's `fit` converts them to)."""
    return np.ascontiguousarray(X, dtype=np.float32), np.ascontiguousarray(y, dtype=np.float64).reshape(-1, 1)


def tree_seeds(seed: int, trees: int) -> np.ndarray:
    return np.random.RandomState(seed).randint(MAX_SEED, size=trees)


def fit_forests(specs: list[ForestSpec], n_jobs: int = 1) -> list[Forest]:
    """Grow every forest of `specs` on `n_jobs` threads (each takes the next tree of any forest);
    a tree depends on its seed only, so the result does not depend on the threads."""
    from sklearn.tree._criterion import MSE
    from sklearn.tree._splitter import BestSplitter, RandomSplitter
    from sklearn.tree._tree import DepthFirstTreeBuilder, Tree

    for spec in specs:
        if spec.kind not in KINDS:
            raise ValueError(f"unknown forest {spec.kind!r}")
        if not np.isfinite(spec.X).all():  # the builder is given no missing-value mask
            raise ValueError("forests are grown on imputed matrices: every value must be finite")
    seeds = [tree_seeds(spec.seed, spec.trees) for spec in specs]
    weights = [np.ascontiguousarray(spec.weights, dtype=np.float64) for spec in specs]
    draw_p = [w / np.sum(w) for w in weights]
    one_output = np.ones(1, dtype=np.intp)
    grown: list[list] = [[None] * spec.trees for spec in specs]
    queue = iter([(f, t) for f, spec in enumerate(specs) for t in range(spec.trees)])
    lock = threading.Lock()

    def grow(f: int, seed: int, rng: np.random.RandomState):
        spec = specs[f]
        rows, features = spec.X.shape
        if spec.kind == "rfr":
            rng.seed(seed)
            drawn = rng.choice(rows, rows, replace=True, p=draw_p[f])
            tree_weights = np.bincount(drawn, minlength=rows).astype(np.float64)
            splitter_kind = BestSplitter
        else:
            tree_weights = weights[f]
            splitter_kind = RandomSplitter
        rng.seed(seed)  # the splitter draws its own seed from a fresh RandomState(seed)
        splitter = splitter_kind(
            MSE(1, rows), max(1, int(spec.max_features * features)), MIN_SAMPLES_LEAF, 0.0, rng, None
        )
        tree = Tree(features, one_output, 1)
        depth = UNLIMITED_DEPTH if spec.max_depth is None else spec.max_depth
        builder = DepthFirstTreeBuilder(splitter, MIN_SAMPLES_SPLIT, MIN_SAMPLES_LEAF, 0.0, depth, 0.0)
        builder.build(tree, spec.X, spec.y, tree_weights, None)
        return tree

    def work() -> None:
        rng = np.random.RandomState(0)  # re-seeded with each tree's seed before every draw
        while True:
            with lock:
                task = next(queue, None)
            if task is None:
                return
            f, t = task
            grown[f][t] = grow(f, int(seeds[f][t]), rng)

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
