"""The indicator dataset (SPEC §3): read once per process, validated, pivoted on demand with caching."""

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from common import forksafe
from common.plausibility import Support, indicator_support
from common.settings import DEFAULT_DATA_CACHE_DIR
from shared_dataloader import data_cache
from shared_dataloader.errors import DatasetError

log = logging.getLogger(__name__)

DATA_FILE, INDICATOR_META_FILE, DATASET_META_FILE = (
    "indicatorData.csv",
    "indicatorMeta.csv",
    "datasetMeta.csv",
)
DATA_COLUMNS = ["Country Code", "Indicator Code"]
META_COLUMNS = ["Indicator Code", "Indicator", "Dimension", "Category", "Dataset"]
DATASET_COLUMNS = ["Dataset Code", "Dataset Name"]
YEAR_PATTERN = re.compile(r"^\d{4}$")


@dataclass(eq=False)
class IndicatorDataset:
    """Tables of one indicator dataset. Returned frames are shared: treat them as read-only.

    - `values`: index (country, indicator), one float column per year (strings "1990", …)
    - `meta`: index indicator code; columns name, dimension, category, dataset
    - `datasets`: dataset code → name (only datasets that have indicators)
    """

    values: pd.DataFrame
    meta: pd.DataFrame
    datasets: dict[str, str]
    fingerprint: str
    present: pd.DataFrame | None = None
    """Indicator × year: how many countries have a value; computed from `values` when not given (the
    binary form stores it, so a process that only validates requests never reads every value)."""
    _cache: dict = field(default_factory=dict, repr=False)
    _lock: forksafe.Lock = field(default_factory=forksafe.Lock, repr=False)

    @property
    def years(self) -> list[str]:
        return list(self.values.columns)

    @property
    def countries(self) -> list[str]:
        return sorted(self.values.index.get_level_values(0).unique())

    def _cached(self, key: tuple, build):
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        table = build()
        with self._lock:
            return self._cache.setdefault(key, table)

    def present_counts(self) -> pd.DataFrame:
        """Indicator × year count of countries with a value (indicators as in `values`, sorted)."""
        if self.present is not None:
            return self.present
        return self._cached(("present",), lambda: count_present(self.values))

    def year_table(self, year: str) -> pd.DataFrame:
        """Country × indicator table of one year (NaN where missing), sorted on both axes."""
        year = str(year)
        if year not in self.values.columns:
            raise KeyError(year)
        return self._cached(
            ("year", year),
            lambda: self.values[year].unstack("Indicator Code").sort_index().sort_index(axis=1),
        )

    def indicator_table(self, indicator: str) -> pd.DataFrame:
        """Country × year table of one indicator (only countries that have a row for it)."""
        if indicator not in self.meta.index:
            raise KeyError(indicator)
        return self._cached(
            ("indicator", indicator), lambda: self.values.xs(indicator, level="Indicator Code").sort_index()
        )

    def support(self, indicator: str) -> Support:
        """Plausible values of one indicator (SPEC §5.7), from all its observations and its name."""
        return self._cached(
            ("support", indicator),
            lambda: indicator_support(
                self.indicator_table(indicator).to_numpy(), str(self.meta.at[indicator, "name"])
            ),
        )

    def indicators_of(self, dataset: str) -> pd.DataFrame:
        """Meta rows of one dataset's indicators."""
        return self.meta[self.meta["dataset"] == dataset]


def count_present(values: pd.DataFrame) -> pd.DataFrame:
    """Indicator × year count of non-missing values in a (country, indicator) × year table."""
    return values.notna().groupby(level="Indicator Code").sum().astype("int64")


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{name}: file not found in the dataset folder (also looked for {name}.gz)")


def _read_csv(path: Path, required: list[str], dtype: dict[str, str] | str | None = None) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=dtype)
    except Exception as exc:
        raise DatasetError(f"{path.name}: cannot be read as CSV ({exc})") from exc
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"{path.name}: missing column(s) {', '.join(missing)}; expected {', '.join(required)}"
        )
    return frame


def _numeric_years(frame: pd.DataFrame, path: Path) -> list[str]:
    """The year columns, in chronological order whatever the file's order (series are interpolated)."""
    years = [c for c in frame.columns if YEAR_PATTERN.match(str(c))]
    if not years:
        raise DatasetError(f'{path.name}: no year columns (expected columns like "2000", "2001")')
    for year in years:
        if pd.api.types.is_numeric_dtype(frame[year]):
            continue
        converted = pd.to_numeric(frame[year], errors="coerce")
        bad = frame[year][converted.isna() & frame[year].notna()]
        if len(bad):
            raise DatasetError(
                f"{path.name}: column {year} has a value that is not a number "
                f"({bad.iloc[0]!r} in row {bad.index[0] + 2})"
            )
        frame[year] = converted
    return sorted(years, key=int)


def _fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def _from_cache_entry(entry: dict[str, Any]) -> IndicatorDataset:
    """The dataset from a binary cache entry; the values stay memory-mapped (read-only, shared)."""
    index = pd.MultiIndex(
        levels=[pd.Index(entry["countries"], dtype="string"), pd.Index(entry["indicators"], dtype="string")],
        codes=[entry["country_codes"], entry["indicator_codes"]],
        names=DATA_COLUMNS,
        verify_integrity=False,
    )
    columns = pd.Index(entry["years"])
    values = pd.DataFrame(entry["values"].T, index=index, columns=columns, copy=False)
    present = pd.DataFrame(
        entry["present"].astype("int64"),
        index=pd.Index(entry["indicators"], dtype="string", name="Indicator Code"),
        columns=columns,
    )
    meta = entry["meta"]
    meta_table = pd.DataFrame(
        {column: pd.array(meta[column], dtype="str") for column in data_cache.META_COLUMNS},
        index=pd.Index(meta["code"], dtype="string", name="code"),
    )
    return IndicatorDataset(
        values=values,
        meta=meta_table,
        datasets=dict(entry["datasets"]),
        fingerprint=entry["fingerprint"],
        present=present,
    )


def read_indicator_dataset(folder: Path, cache_dir: Path | None = None) -> IndicatorDataset:
    """Read and validate the three files of an indicator dataset folder.

    With `cache_dir` (DATA_CACHE_DIR), the binary form of these exact files is read instead when one
    was built (`shared_dataloader.data_cache`), and built after parsing when none was. It was built
    from files that passed the checks below, and its key is their sha256: the same bytes."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"dataset folder {folder.name!r} does not exist")
    paths = [_find(folder, name) for name in (DATA_FILE, INDICATOR_META_FILE, DATASET_META_FILE)]
    fingerprint = _fingerprint(paths)
    if cache_dir is None:
        return _parse(folder, paths, fingerprint)
    entry = data_cache.lookup(fingerprint, Path(cache_dir))
    if entry is not None:
        return _from_cache_entry(entry)
    dataset = _parse(folder, paths, fingerprint)
    if data_cache.write(Path(cache_dir), dataset) is not None:  # serve the mapped form from the start
        entry = data_cache.lookup(fingerprint, Path(cache_dir))
        if entry is not None:
            return _from_cache_entry(entry)
    return dataset


def _parse(folder: Path, paths: list[Path], fingerprint: str) -> IndicatorDataset:
    from shared_dataloader.manifest import (
        verify,  # here, so `python -m shared_dataloader.manifest` runs clean
    )

    verify(folder, paths)
    data = _read_csv(paths[0], DATA_COLUMNS, dtype={c: "string" for c in DATA_COLUMNS})
    meta = _read_csv(paths[1], META_COLUMNS, dtype="string")
    datasets = _read_csv(paths[2], DATASET_COLUMNS, dtype="string")

    years = _numeric_years(data, paths[0])
    data = data.dropna(subset=DATA_COLUMNS)
    duplicated = data.duplicated(DATA_COLUMNS)
    if duplicated.any():
        log.warning(
            "%s: %d duplicate country/indicator rows; keeping the first", paths[0].name, int(duplicated.sum())
        )
        data = data[~duplicated]
    meta = meta.dropna(subset=["Indicator Code", "Dataset"]).drop_duplicates("Indicator Code")
    meta = meta[meta["Indicator Code"].isin(set(data["Indicator Code"]))]
    data = data[data["Indicator Code"].isin(set(meta["Indicator Code"]))]
    datasets = datasets.dropna(subset=DATASET_COLUMNS)
    datasets = datasets[datasets["Dataset Code"].isin(set(meta["Dataset"]))]
    meta = meta[meta["Dataset"].isin(set(datasets["Dataset Code"]))]
    if data.empty or meta.empty:
        raise DatasetError(f"{paths[0].name}: no indicator rows left after validation")

    values = data.set_index(DATA_COLUMNS)[years].astype("float64").sort_index()
    meta_table = (
        meta.rename(
            columns={
                "Indicator Code": "code",
                "Indicator": "name",
                "Dimension": "dimension",
                "Category": "category",
                "Dataset": "dataset",
            }
        )
        .set_index("code")[["name", "dimension", "category", "dataset"]]
        .fillna("")
        .astype(str)
        .sort_index()
    )
    return IndicatorDataset(
        values=values,
        meta=meta_table,
        datasets=dict(zip(datasets["Dataset Code"].astype(str), datasets["Dataset Name"].astype(str))),
        fingerprint=fingerprint,
    )


def load_indicator_dataset(folder: Path, cache_dir: Path | None = DEFAULT_DATA_CACHE_DIR) -> IndicatorDataset:
    """The dataset of `folder`, from its binary form in `cache_dir` (built on the first read).

    Nothing is kept here: whoever loads it owns it (the app's resource store, the queue worker), and
    the binary form's values are memory-mapped, so each further load shares the same pages."""
    return read_indicator_dataset(Path(folder).resolve(), cache_dir)
