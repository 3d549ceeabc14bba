"""The algorithm modules of twolvlImp as plain functions (no HTTP)."""

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import KNNImputer

from common.constants import SIDS_SET
from models.twolvlImp import preprocess, selection, training


def noisy(rows: int = 120, columns: int = 8, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, columns))
    return X, 3 * X[:, 0] + 2 * X[:, 1] + 0.3 * rng.normal(size=rows)


def structures(forest: RandomForestRegressor) -> list:
    return [tree.tree_ for tree in forest.estimators_]


def test_knn_fill_matches_scikit_learn():
    rng = np.random.default_rng(0)
    train, query = rng.normal(size=(80, 30)), rng.normal(size=(7, 30))
    train[rng.random(train.shape) < 0.2] = np.nan
    query[rng.random(query.shape) < 0.3] = np.nan
    reference = KNNImputer(n_neighbors=5).fit(train)
    assert np.allclose(preprocess.knn_fill(train, query), reference.transform(query))
    assert np.allclose(preprocess.knn_fill(train, train), reference.transform(train))


def test_imputer_is_fitted_on_training_rows_only():
    train = np.array([[1.0], [3.0], [np.nan]])
    predict = np.array([[np.nan], [100.0]])
    _, filled = preprocess.impute(train, predict, "SimpleImputer", 0)
    assert filled[0, 0] == 2.0  # mean of the training rows, not influenced by 100


def test_prepare_splits_training_rows_and_sids_to_predict(dataset):
    table = dataset.year_table("2001")
    prepared = preprocess.prepare(table, "wdi-EG.ELC.ACCS.ZS", SIDS_SET, "SimpleImputer", 0)
    target = table["wdi-EG.ELC.ACCS.ZS"]
    assert set(prepared.train_countries) == set(target.dropna().index)
    assert set(prepared.predict_countries) == {c for c in target[target.isna()].index if c in SIDS_SET}
    assert not np.isnan(prepared.X_train).any() and not np.isnan(prepared.X_predict).any()
    assert "wdi-EG.ELC.ACCS.ZS" not in prepared.columns
    assert not prepared.X_train.flags.writeable


def test_truncated_forest_equals_depth_limited_forest():
    X, y = noisy()
    full = RandomForestRegressor(20, random_state=0).fit(X[:90], y[:90])
    cut = training.truncated_tree_predictions(structures(full), X[90:], (1, None)).mean(axis=1)
    for k, depth in enumerate((1, None)):
        limited = RandomForestRegressor(20, max_depth=depth, random_state=0).fit(X[:90], y[:90])
        assert np.allclose(cut[k], limited.predict(X[90:]))


def test_truncated_predictions_read_each_depth_off_the_decision_path():
    X, y = noisy()
    forest = RandomForestRegressor(10, random_state=0).fit(X[:90], y[:90])
    cut = training.truncated_tree_predictions(structures(forest), X[90:], training.FOREST_DEPTHS)
    for t, tree in enumerate(forest.estimators_):
        path = tree.decision_path(X[90:]).toarray().astype(bool)
        depth = tree.tree_.compute_node_depths() - 1
        for k, limit in enumerate(training.FOREST_DEPTHS):
            deepest = [
                np.flatnonzero(on & (depth <= (limit if limit is not None else np.inf)))[-1] for on in path
            ]
            assert np.array_equal(cut[k, t], tree.tree_.value[deepest, 0, 0])


def test_truncated_importances_equal_depth_limited_forest():
    X, y = noisy()
    full = RandomForestRegressor(20, random_state=0).fit(X, y)
    cut = training.truncated_importances(structures(full), X.shape[1], (1, 3, None))
    for k, depth in enumerate((1, 3, None)):
        limited = RandomForestRegressor(20, max_depth=depth, random_state=0).fit(X, y)
        assert cut[k].sum() == pytest.approx(1.0)
        # below the first level a depth-limited tree's later nodes see other random draws (sklearn
        # draws as it builds), so a few of its splits differ from the full tree's
        assert np.allclose(cut[k], limited.feature_importances_, atol=0 if depth in (1, None) else 0.02)


def test_final_forest_from_the_search_is_the_forest_fitted_on_every_row():
    X, y = noisy(rows=150)
    weights = np.ones(len(y))
    found = training.search("rfr", X[:120], y[:120], weights[:120], 30, 0, 1, X[120:])
    assert found.final is not None and found.final.per_tree.shape == (30, 30)
    refit = RandomForestRegressor(30, random_state=0).fit(X[:120], y[:120], sample_weight=weights[:120])
    cut = training.FOREST_DEPTHS.index(found.depth)
    per_tree = training.truncated_tree_predictions(structures(refit), X[120:], training.FOREST_DEPTHS)[cut]
    assert np.allclose(found.final.per_tree, per_tree)
    assert np.allclose(
        found.final.importances,
        training.truncated_importances(structures(refit), X.shape[1], training.FOREST_DEPTHS)[cut],
    )
    fitted = training.train_and_predict(X[:120], y[:120], weights[:120], X[120:], "rfr", 30, "quantile", 0, 1)
    assert np.allclose(fitted.prediction, per_tree.mean(axis=0))
    assert np.all(fitted.lower <= fitted.prediction) and np.all(fitted.prediction <= fitted.upper)
    assert np.allclose(fitted.importances, found.final.importances)


@pytest.mark.parametrize("kind", ["rfr", "etr", "gbr"])
def test_search_picks_a_grid_depth_with_out_of_fold_predictions(kind):
    X, y = noisy()
    found = training.search(kind, X, y, np.ones(len(y)), 10, 0, 1)
    grid = training.GBR_DEPTHS if kind == "gbr" else training.FOREST_DEPTHS
    assert found.depth in grid and found.oof.shape == y.shape
    assert found.mse == pytest.approx(np.mean((found.oof - y) ** 2), rel=0.05)


def test_balanced_weights_give_both_groups_equal_total():
    is_sids = np.array([True, False, False, False])
    weights = training.balanced_weights(is_sids)
    assert weights[is_sids].sum() == pytest.approx(weights[~is_sids].sum())
    assert np.all(training.balanced_weights(np.zeros(3, bool)) == 1)


def test_recursive_elimination_keeps_the_informative_columns():
    X, y = noisy(columns=20)
    kept = selection.recursive_elimination(X, y, np.ones(len(y)), 2, 0, n_jobs=1)
    assert kept == [0, 1]


def test_pca_selection_returns_distinct_columns():
    X, _ = noisy(columns=12)
    chosen = selection.pca_selection(X, 5, 0)
    assert len(set(chosen)) == 5 and chosen == sorted(chosen)


def test_bootstrap_offsets_bracket_zero_for_centred_residuals():
    residuals = np.random.default_rng(0).normal(size=200)
    low, high = training.bootstrap_offsets(residuals, 0)
    assert low < 0 < high and high - low == pytest.approx(3.29, rel=0.2)
