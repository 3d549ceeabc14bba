"""Catalog (which datasets, categories, years and countries have data) and the computations of
CountryCorrelation, runnable without the app."""

import pandas as pd

from common.constants import SIDS, SIDS_SET
from common.errors import InvalidInput
from common.progress import Progress
from models.CountryCorrelation.correlation import (
    MIN_SHARED_INDICATORS,
    correlate_country,
    kmeans_em_filled,
    pca_coords,
    standardize,
)
from models.CountryCorrelation.schemas import (
    CorrelateRequest,
    CorrelateResponse,
    CountryClusterRequest,
    CountryClusterResponse,
    SelectionRequest,
)
from shared_dataloader import IndicatorDataset

MIN_COUNTRIES = 2
"""A year has data for a category when at least this many SIDS have MIN_SHARED_INDICATORS values."""


def coverage(indicators: IndicatorDataset) -> pd.DataFrame:
    """Number of indicator values per (dataset, category, SIDS country) and year."""
    values = indicators.values
    sids = values[values.index.get_level_values(0).isin(SIDS_SET)].notna()
    meta = indicators.meta.reindex(sids.index.get_level_values(1))
    keys = [meta["dataset"].to_numpy(), meta["category"].to_numpy(), sids.index.get_level_values(0)]
    return sids.astype(int).groupby(keys).sum().rename_axis(["dataset", "category", "country"])


def _usable_datasets(cov: pd.DataFrame) -> set[str]:
    enough = (cov >= MIN_SHARED_INDICATORS).groupby(level=["dataset", "category"]).sum() >= MIN_COUNTRIES
    return set(enough[enough.any(axis=1)].index.get_level_values("dataset"))


def _categories(cov: pd.DataFrame, dataset_code: str, field: str) -> list[str]:
    valid = _usable_datasets(cov)
    if dataset_code not in valid:
        raise InvalidInput(
            f"Unknown dataset {dataset_code!r} (or no SIDS data in it); valid: {', '.join(sorted(valid))}",
            field=field,
        )
    enough = (cov.loc[dataset_code] >= MIN_SHARED_INDICATORS).groupby(level="category").sum() >= MIN_COUNTRIES
    return sorted(enough.index[enough.any(axis=1)])


def _years(cov: pd.DataFrame, dataset_code: str, category: str, prefix: str) -> list[str]:
    valid = _categories(cov, dataset_code, f"{prefix}.dataset")
    if category not in valid:
        raise InvalidInput(
            f"Unknown category {category!r} for dataset {dataset_code}; valid: {', '.join(valid)}",
            field=f"{prefix}.category",
        )
    enough = (cov.loc[(dataset_code, category)] >= MIN_SHARED_INDICATORS).sum() >= MIN_COUNTRIES
    return list(enough.index[enough])


def _check_year(cov: pd.DataFrame, dataset_code: str, category: str, year: str, prefix: str) -> None:
    valid = _years(cov, dataset_code, category, prefix)
    if year not in valid:
        raise InvalidInput(
            f"No data for {dataset_code}/{category} in year {year!r}; valid years: {', '.join(valid)}",
            field=f"{prefix}.year",
        )


def _countries(cov: pd.DataFrame, dataset_code: str, category: str, year: str, prefix: str) -> list[str]:
    _check_year(cov, dataset_code, category, year, prefix)
    counts = cov.loc[(dataset_code, category), year]
    return sorted(counts.index[counts >= MIN_SHARED_INDICATORS])


def datasets(indicators: IndicatorDataset) -> dict[str, str]:
    """{code: name} of datasets with at least one category and year that can be correlated."""
    valid = _usable_datasets(coverage(indicators))
    return {code: name for code, name in indicators.datasets.items() if code in valid}


def categories(indicators: IndicatorDataset, dataset_code: str) -> list[str]:
    return _categories(coverage(indicators), dataset_code, "query.dataset")


def years(indicators: IndicatorDataset, dataset_code: str, category: str) -> list[str]:
    """Years in which at least MIN_COUNTRIES SIDS have MIN_SHARED_INDICATORS values of the category."""
    return _years(coverage(indicators), dataset_code, category, "query")


def countries(indicators: IndicatorDataset, dataset_code: str, category: str, year: str) -> list[str]:
    """SIDS with at least MIN_SHARED_INDICATORS values of the category in that year."""
    return _countries(coverage(indicators), dataset_code, category, year, "query")


def _sids_table(indicators: IndicatorDataset, body: SelectionRequest) -> pd.DataFrame:
    """SIDS × indicators of the request's dataset and category in its year (raw values)."""
    table = indicators.year_table(body.year)
    codes = indicators.meta.index[
        (indicators.meta["dataset"] == body.dataset) & (indicators.meta["category"] == body.category)
    ]
    return table.loc[table.index.isin(SIDS_SET), table.columns.isin(codes)]


def correlate(
    body: CorrelateRequest, indicators: IndicatorDataset, progress: Progress | None = None
) -> CorrelateResponse:
    """Pearson r of the chosen SIDS against every other SIDS over the category's indicators."""
    valid = _countries(coverage(indicators), body.dataset, body.category, body.year, "body")
    if body.country not in SIDS_SET:
        raise InvalidInput(
            f"{body.country!r} is not a SIDS; valid SIDS codes: {', '.join(SIDS)}", field="body.country"
        )
    if body.country not in valid:
        raise InvalidInput(
            f"{body.country} has fewer than {MIN_SHARED_INDICATORS} values of "
            f"{body.dataset}/{body.category} in {body.year}; valid: {', '.join(valid)}",
            field="body.country",
        )
    if progress:
        progress("correlating", 0.2)
    result = correlate_country(standardize(_sids_table(indicators, body)), body.country)
    if progress:
        progress("done", 1.0)
    return CorrelateResponse(country_corr={"index": list(result.index), body.country: result.tolist()})


def cluster(
    body: CountryClusterRequest, indicators: IndicatorDataset, progress: Progress | None = None
) -> CountryClusterResponse:
    """k-means with EM gap filling over the SIDS that have data (k capped at their number)."""
    _check_year(coverage(indicators), body.dataset, body.category, body.year, "body")
    if progress:
        progress("clustering", 0.2)
    table = _sids_table(indicators, body)
    table = table[table.notna().any(axis=1)]
    labels, filled = kmeans_em_filled(standardize(table).to_numpy(), min(body.k, len(table)))
    coords = pca_coords(filled)
    if progress:
        progress("done", 1.0)
    return CountryClusterResponse(
        country=list(table.index), label=labels.tolist(), coords=coords.round(6).tolist()
    )
