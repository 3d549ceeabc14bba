"""Country-by-country Pearson correlation and k-means with EM gap filling (plain pandas/numpy)."""

import numpy as np
import pandas as pd

MIN_SHARED_INDICATORS = 3
"""A pair of countries is correlated only over at least this many indicators both have."""
MAX_EM_ITERATIONS = 100
SEED = 0


def load_libraries() -> None:
    """Import scikit-learn's parts used here (imported on first use, or by the model's COMPUTE_WARMUP)."""
    import sklearn.cluster
    import sklearn.decomposition  # noqa: F401


def standardize(table: pd.DataFrame) -> pd.DataFrame:
    """Z-score each indicator (column) over the rows that have it; constant or single-value columns
    carry no information and are dropped. Without this, the indicator with the largest unit decides
    every correlation (r ≈ 1 for all pairs) and every k-means split."""
    spread = table.std(ddof=0)
    keep = (table.count() >= 2) & (spread > 0)
    return (table.loc[:, keep] - table.loc[:, keep].mean()) / spread[keep]


def correlate_country(
    table: pd.DataFrame, country: str, min_shared: int = MIN_SHARED_INDICATORS
) -> pd.Series:
    """Pearson r of `country`'s row with every other row of `table` (countries × standardized
    indicators, see `standardize`).

    Each pair uses the indicators both countries have; pairs with fewer than `min_shared` of them,
    or where either side is constant over them, are left out. Sorted descending, `country` excluded.
    """
    own = table.loc[country].to_numpy(dtype="float64")
    results = {}
    for other, row in table.drop(index=country).iterrows():
        values = row.to_numpy(dtype="float64")
        shared = ~np.isnan(own) & ~np.isnan(values)
        if shared.sum() < min_shared:
            continue
        x, y = own[shared], values[shared]
        x, y = x - x.mean(), y - y.mean()
        denominator = np.sqrt((x * x).sum() * (y * y).sum())
        if denominator == 0 or not np.isfinite(denominator):
            continue
        results[other] = float(np.clip((x * y).sum() / denominator, -1.0, 1.0))
    ordered = sorted(results.items(), key=lambda item: (-item[1], item[0]))
    return pd.Series(dict(ordered), dtype="float64")


def _first_appearance(labels: np.ndarray) -> np.ndarray:
    """Renumber labels 0, 1, … in the order they first appear (a canonical labelling)."""
    mapping: dict[int, int] = {}
    for label in labels:
        mapping.setdefault(int(label), len(mapping))
    return np.array([mapping[int(label)] for label in labels], dtype=int)


def kmeans_em(values: np.ndarray, k: int, max_iter: int = MAX_EM_ITERATIONS, seed: int = SEED) -> np.ndarray:
    """k-means on rows with gaps: start from column means, cluster, refill the gaps from each row's
    centroid, and repeat until the labels stop changing (at most `max_iter` rounds).

    Columns without any value are ignored. `k` must be between 1 and the number of rows. k-means
    runs on one OpenMP thread: on tables this small, more threads only spin against each other.
    """
    return kmeans_em_filled(values, k, max_iter, seed)[0]


def kmeans_em_filled(
    values: np.ndarray, k: int, max_iter: int = MAX_EM_ITERATIONS, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """`kmeans_em`'s labels and the table with its gaps filled from the final centroids."""
    values = np.asarray(values, dtype="float64")
    values = values[:, ~np.isnan(values).all(axis=0)]
    if values.shape[1] == 0:
        return np.zeros(values.shape[0], dtype=int), values
    missing = np.isnan(values)
    filled = np.where(missing, np.nanmean(values, axis=0, keepdims=True), values)
    k = min(k, len(np.unique(filled, axis=0)))
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="openmp"):
        model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(filled)
        labels = model.labels_
        for _ in range(max_iter):
            filled[missing] = model.cluster_centers_[labels][missing]
            model = KMeans(n_clusters=k, init=model.cluster_centers_, n_init=1, random_state=seed).fit(filled)
            if np.array_equal(model.labels_, labels):
                break
            labels = model.labels_
    return _first_appearance(model.labels_), filled


def pca_coords(filled: np.ndarray) -> np.ndarray:
    """Rows projected on the first two principal components of a gap-free table (n × 2; a
    component the table cannot give, e.g. with one column, is 0), for a 2-D picture of clusters."""
    filled = np.asarray(filled, dtype="float64")
    coords = np.zeros((filled.shape[0], 2))
    components = min(2, *filled.shape) if filled.size else 0
    if components:
        from sklearn.decomposition import PCA

        coords[:, :components] = PCA(n_components=components, random_state=SEED).fit_transform(filled)
    return coords
