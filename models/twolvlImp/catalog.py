"""What a request may ask for: supported years, datasets, targets and predictors, and the checks.

Everything is derived from the loaded dataset and memoised per dataset object (one object per
dataset fingerprint and process) and year, so listing endpoints answer from memory after the
first call. Checks raise `InvalidInput` with a message that says what is valid.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from common.errors import InvalidInput
from models.twolvlImp.preprocess import PREDICTOR_MISSING_MAX, TARGET_MISSING_MAX, candidate_predictors
from shared_dataloader import IndicatorDataset

MAX_PREDICTORS = 40
PREFIX = "/twolvlImp"


@dataclass(frozen=True)
class YearCatalog:
    year: str
    targets: dict[str, str]  # valid target code → its dataset code
    datasets: dict[str, str]  # dataset code → name, datasets with at least one valid target


@lru_cache(maxsize=8)
def _valid_targets(indicators: IndicatorDataset) -> pd.DataFrame:
    """Indicator × year: True where the indicator is a valid target that year."""
    present = indicators.present_counts()
    missing = 100.0 * (1.0 - present / len(indicators.countries))
    return (missing < TARGET_MISSING_MAX) & (missing > 0)


def sample_size(indicators: IndicatorDataset, missing_max: float) -> int:
    """Fewest countries with data an indicator needs to be missing in < `missing_max` %."""
    return math.ceil(len(indicators.countries) * (1 - missing_max / 100))


@lru_cache(maxsize=256)
def year_catalog(indicators: IndicatorDataset, year: str) -> YearCatalog:
    valid_in_year = _valid_targets(indicators)[year]
    valid = valid_in_year[valid_in_year].index
    targets = indicators.meta.loc[indicators.meta.index.isin(valid), "dataset"].to_dict()
    used = set(targets.values())
    return YearCatalog(
        year, targets, {code: name for code, name in sorted(indicators.datasets.items()) if code in used}
    )


@lru_cache(maxsize=8)
def supported_years(indicators: IndicatorDataset) -> tuple[str, ...]:
    """Years with at least one valid target."""
    valid = _valid_targets(indicators)
    valid = valid[valid.index.isin(indicators.meta.index)]
    return tuple(year for year in indicators.years if valid[year].any())


@lru_cache(maxsize=512)
def predictors(indicators: IndicatorDataset, year: str, target: str) -> tuple[str, ...]:
    """Valid predictors of `target` in `year`: other indicators missing in < 30 % of its rows."""
    return tuple(candidate_predictors(indicators.year_table(year), target, PREDICTOR_MISSING_MAX))


def check_year(indicators: IndicatorDataset, year: str, field: str) -> YearCatalog:
    years = supported_years(indicators)
    if year not in years:
        raise InvalidInput(
            f"Unsupported target_year {year!r}; supported years are {years[0]}–{years[-1]} "
            f"(GET {PREFIX}/target_years).",
            field=field,
        )
    return year_catalog(indicators, year)


def check_dataset(catalog: YearCatalog, code: str, field: str) -> None:
    if code not in catalog.datasets:
        raise InvalidInput(
            f"Dataset {code!r} has no valid target in {catalog.year}; valid: "
            f"{', '.join(catalog.datasets)} (GET {PREFIX}/datasets?target_year={catalog.year}).",
            field=field,
        )


def check_target(catalog: YearCatalog, dataset_code: str, target: str, field: str) -> None:
    if catalog.targets.get(target) != dataset_code:
        raise InvalidInput(
            f"{target!r} is not a valid target of dataset {dataset_code!r} in {catalog.year} (a target "
            f"must belong to the dataset and be missing for some but less than {TARGET_MISSING_MAX:g} % "
            f"of countries); list them with GET {PREFIX}/targets?target_year={catalog.year}"
            f"&dataset={dataset_code}.",
            field=field,
        )


def check_target_request(
    indicators: IndicatorDataset, year: str, dataset_code: str, target: str, prefix: str = "body"
) -> tuple[str, ...]:
    """Validate year, dataset and target together; return the target's valid predictors."""
    catalog = check_year(indicators, year, f"{prefix}.target_year")
    check_dataset(catalog, dataset_code, f"{prefix}.dataset")
    check_target(catalog, dataset_code, target, f"{prefix}.target")
    return predictors(indicators, year, target)


def allowed_counts(valid: tuple[str, ...]) -> list[int]:
    return list(range(1, min(len(valid), MAX_PREDICTORS) + 1))


def check_manual(valid: tuple[str, ...], target: str, chosen: list[str], year: str) -> None:
    field = "body.manual_predictors"
    if target in chosen:
        raise InvalidInput(
            f"The target {target!r} cannot be one of its own predictors; remove it from manual_predictors.",
            field=field,
        )
    duplicates = sorted({name for name in chosen if chosen.count(name) > 1})
    if duplicates:
        raise InvalidInput(f"manual_predictors lists {', '.join(duplicates)} more than once.", field=field)
    allowed = set(valid)
    unknown = [name for name in chosen if name not in allowed]
    if unknown:
        raise InvalidInput(
            f"Not valid predictors of {target!r} in {year}: {', '.join(unknown)}. A predictor must be "
            f"missing in less than {PREDICTOR_MISSING_MAX:g} % of the countries that report the target; "
            f"list them with POST {PREFIX}/predictors (scheme MANUAL).",
            field=field,
        )


def check_count(valid: tuple[str, ...], count: int) -> None:
    top = min(len(valid), MAX_PREDICTORS)
    if not 1 <= count <= top:
        raise InvalidInput(
            f"number_predictor must be between 1 and {top} for this target and year.",
            field="body.number_predictor",
        )
