"""models.twolvlImp.forest grows the trees scikit-learn's forests grow for the same seed."""

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

from models.twolvlImp import forest

ENSEMBLES = {"rfr": RandomForestRegressor, "etr": ExtraTreesRegressor}


def weighted_rows(rows: int = 150, columns: int = 12, seed: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, columns))
    y = 2 * X[:, 0] - X[:, 3] + 0.5 * rng.normal(size=rows)
    weights = np.where(rng.random(rows) < 0.2, 3.5, 0.6)  # like the SIDS / non-SIDS balance
    return X, y, weights


def same_tree(a, b) -> bool:
    return all(
        np.array_equal(getattr(a, field), getattr(b, field))
        for field in (
            "feature",
            "threshold",
            "children_left",
            "children_right",
            "value",
            "weighted_n_node_samples",
        )
    )


@pytest.mark.parametrize("kind", ["rfr", "etr"])
@pytest.mark.parametrize("max_features", [1.0, 0.3])
@pytest.mark.parametrize("threads", [1, 2])
def test_trees_and_importances_are_scikit_learns(kind, max_features, threads):
    X, y, weights = weighted_rows()
    reference = ENSEMBLES[kind](25, max_features=max_features, random_state=7).fit(
        X, y, sample_weight=weights
    )
    grown = forest.fit_forest(kind, X, y, weights, 25, 7, threads, max_features=max_features)
    assert len(grown.trees) == 25
    assert all(same_tree(a.tree_, b) for a, b in zip(reference.estimators_, grown.trees))
    assert np.array_equal(grown.feature_importances(), reference.feature_importances_)


def test_forests_grown_together_equal_each_grown_alone():
    X, y, weights = weighted_rows()
    X32, y64 = forest.tree_input(X, y)
    specs = [
        forest.ForestSpec("rfr", X32[:100], y64[:100], weights[:100], 10, 0),
        forest.ForestSpec("etr", X32, y64, weights, 15, 1, max_depth=3),
    ]
    together = forest.fit_forests(specs, n_jobs=2)
    for spec, grown in zip(specs, together):
        alone = forest.fit_forests([spec])[0]
        assert len(grown.trees) == spec.trees
        assert all(same_tree(a, b) for a, b in zip(alone.trees, grown.trees))
    assert max(tree.max_depth for tree in together[1].trees) <= 3


def test_unknown_kind_and_missing_values_are_refused():
    X, y, weights = weighted_rows(rows=20)
    with pytest.raises(ValueError, match="unknown forest"):
        forest.fit_forest("gbr", X, y, weights, 2, 0)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="imputed"):
        forest.fit_forest("rfr", X, y, weights, 2, 0)
