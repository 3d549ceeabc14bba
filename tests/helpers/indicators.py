"""Expectations computed from the indicator dataset, for the imputation models' tests."""

import numpy as np


def year_of(predict_response: dict, year: str) -> dict:
    """One year's fields of a twolvlImp predict response (SPEC §5.1.6 nests field first, then year)."""
    return {field: by_year[year] for field, by_year in predict_response["indicatorJson"].items()}


def plausible_ranges(dataset, target: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """(point range, bound range) of `target` by SPEC §5.7, computed here from the data and the
    indicator's name: support = [0 if nothing observed is negative, 100 if a `%` name and nothing
    observed exceeds 100]; points also within 25 % of the observed range beyond it."""
    values = dataset.indicator_table(target).to_numpy().ravel()
    values = values[~np.isnan(values)]
    low = 0.0 if values.min() >= 0 else -np.inf
    high = 100.0 if "%" in dataset.meta.at[target, "name"] and values.max() <= 100 else np.inf
    margin = 0.25 * (values.max() - values.min())
    return (max(low, values.min() - margin), min(high, values.max() + margin)), (low, high)
