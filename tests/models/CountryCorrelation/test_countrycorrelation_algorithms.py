"""The plain functions behind CountryCorrelation, on small hand-made tables."""

import numpy as np
import pandas as pd

from models.CountryCorrelation.correlation import (
    correlate_country,
    kmeans_em,
    kmeans_em_filled,
    pca_coords,
    standardize,
)


def test_pairs_with_too_few_shared_indicators_or_no_spread_are_left_out():
    table = pd.DataFrame(
        {"a": [1, 2, 1, np.nan], "b": [2, 4, 2, 5], "c": [3, 6, 3, np.nan], "d": [4, 8, 3, np.nan]},
        index=["X", "Y", "Z", "W"],
        dtype=float,
    )
    result = correlate_country(table, "X", min_shared=3)
    assert list(result.index) == ["Y", "Z"]
    assert result["Y"] == 1.0 and result["Z"] < 1.0
    constant = table.assign(a=1.0, b=1.0, c=1.0, d=1.0)
    assert correlate_country(constant, "X").empty


def test_standardize_drops_uninformative_columns():
    table = pd.DataFrame({"same": [2.0, 2.0, 2.0], "one": [1.0, np.nan, np.nan], "ok": [0.0, 5.0, 10.0]})
    z = standardize(table)
    assert list(z.columns) == ["ok"] and z["ok"].tolist() == [-np.sqrt(1.5), 0.0, np.sqrt(1.5)]


def test_kmeans_em_separates_two_groups_despite_gaps():
    rng = np.random.default_rng(1)
    low = rng.normal(0, 0.1, (6, 4))
    high = rng.normal(5, 0.1, (6, 4))
    values = np.vstack([low, high])
    values[[1, 7, 9], [0, 2, 3]] = np.nan
    labels = kmeans_em(values, 2)
    assert labels.tolist() == [0] * 6 + [1] * 6
    assert kmeans_em(values, 2).tolist() == labels.tolist()


def test_kmeans_em_caps_k_at_distinct_rows():
    values = np.array([[1.0, 2.0], [1.0, 2.0], [np.nan, 2.0]])
    assert set(kmeans_em(values, 3).tolist()) == {0}


def test_pca_coords_separate_the_clusters_on_the_first_component():
    rng = np.random.default_rng(1)
    values = np.vstack([rng.normal(0, 0.1, (6, 4)), rng.normal(3, 0.1, (6, 4))])
    values[0, 1] = values[8, 2] = np.nan
    labels, filled = kmeans_em_filled(values, 2)
    coords = pca_coords(filled)
    assert coords.shape == (12, 2) and not np.isnan(filled).any()
    first = coords[:, 0]
    assert max(first[labels == 0]) < min(first[labels == 1]) or max(first[labels == 1]) < min(
        first[labels == 0]
    )


def test_pca_coords_of_a_single_indicator_lie_on_a_line():
    coords = pca_coords(np.array([[1.0], [2.0], [4.0]]))
    assert coords[:, 1].tolist() == [0.0, 0.0, 0.0]
    assert abs(coords[0, 0] - coords[1, 0]) < abs(coords[0, 0] - coords[2, 0])
