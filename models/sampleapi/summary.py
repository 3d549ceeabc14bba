"""Compare SIDS with all other countries on one indicator in one year (plain pandas, no HTTP)."""

import pandas as pd

from common.constants import SIDS_SET


def group_stats(values: pd.Series) -> dict:
    values = values.dropna()
    return {
        "countries": int(values.size),
        "mean": float(values.mean()) if values.size else None,
        "median": float(values.median()) if values.size else None,
    }


def latest_year_with_sids_data(indicator_table: pd.DataFrame) -> str | None:
    """The last year (column) in which at least one SIDS has a value."""
    sids_rows = indicator_table[indicator_table.index.isin(SIDS_SET)]
    years = [year for year in sids_rows.columns if sids_rows[year].notna().any()]
    return years[-1] if years else None


def compare_sids(indicator_table: pd.DataFrame, year: str) -> dict:
    """SIDS vs other countries: counts, means and medians of the indicator's values in `year`."""
    column = indicator_table[year]
    is_sids = column.index.isin(SIDS_SET)
    sids, others = group_stats(column[is_sids]), group_stats(column[~is_sids])
    gap = sids["mean"] - others["mean"] if sids["mean"] is not None and others["mean"] is not None else None
    return {"sids": sids, "others": others, "mean_difference": gap}
