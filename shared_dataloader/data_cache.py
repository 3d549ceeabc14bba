"""The indicator dataset in a fast binary form, built once from its CSV files.

Parsing the CSVs takes most of a second; reading this form takes milliseconds. A cache entry is a
folder `indicators-v<FORMAT>-<fingerprint>/` (the fingerprint is the sha256 of the CSV files, so a
changed CSV gets a new entry and the old one is never read again) holding:

- `values.npy`: the year values, float64, shape (years, rows) — read memory-mapped, so every
  process on the host shares one copy of the pages;
- `countries.npy`, `indicators.npy`: int32 codes of each row's country and indicator;
- `present.npy`: int32, shape (indicators, years), how many countries have a value — what the
  catalogues of supported years and targets are built from, so the API process, which validates
  requests but computes nothing, does not read (and keep resident) all of `values`;
- `tables.json`: years, the country and indicator names the codes point at, the indicator meta
  table and the dataset names.

Never a pickle: NumPy files are written and read with `allow_pickle=False`, the rest is JSON.
An entry is written to a temporary folder and renamed into place, so readers see all of it or
nothing. Entries are looked up in the writable DATA_CACHE_DIR, then in the read-only folder the
container image fills at build time (`BUNDLED_CACHE_DIR`); new entries go to DATA_CACHE_DIR only.

    python -m shared_dataloader.data_cache [DATASET_DIR] [--into DIR]   # build entries ahead of time

The same command also writes the derived forms of the model store's skops artifacts
(`models/_artifacts/derived.py`, `--model-store`); `--artifacts-only` writes those alone. The
container image ships the artifacts' derived forms (1 MB) but not the dataset's binary form (32 MB,
which would take the image over its 450 MB budget): a container builds that into DATA_CACHE_DIR at
its first start (about a second).
"""

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from common.settings import REPO_ROOT

log = logging.getLogger(__name__)

FORMAT = 2
BUNDLED_CACHE_DIR = REPO_ROOT / ".data-cache"
"""Entries built into the container image (its root filesystem is read-only at run time)."""
TABLES_FILE = "tables.json"
ARRAYS = {"values": np.float64, "countries": np.int32, "indicators": np.int32, "present": np.int32}
META_COLUMNS = ("name", "dimension", "category", "dataset")


class CorruptEntry(Exception):
    """A cache entry that cannot be used; the caller rebuilds it from the CSV files."""


def entry_name(fingerprint: str) -> str:
    return f"indicators-v{FORMAT}-{fingerprint}"


def _write_entry(folder: Path, dataset: Any) -> None:
    values = dataset.values
    countries, indicators = values.index.levels
    country_codes, indicator_codes = values.index.codes
    arrays = {
        "values": np.ascontiguousarray(values.to_numpy(dtype=np.float64).T),
        "countries": np.asarray(country_codes, dtype=np.int32),
        "indicators": np.asarray(indicator_codes, dtype=np.int32),
        "present": dataset.present_counts().reindex(indicators, fill_value=0).to_numpy(dtype=np.int32),
    }
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array, allow_pickle=False)
    tables = {
        "format": FORMAT,
        "fingerprint": dataset.fingerprint,
        "rows": len(values),
        "years": [str(year) for year in values.columns],
        "countries": [str(code) for code in countries],
        "indicators": [str(code) for code in indicators],
        "meta": {
            "code": [str(code) for code in dataset.meta.index],
            **{column: dataset.meta[column].tolist() for column in META_COLUMNS},
        },
        "datasets": dataset.datasets,
    }
    (folder / TABLES_FILE).write_text(json.dumps(tables, ensure_ascii=False), encoding="utf-8")


def write(cache_dir: Path, dataset: Any) -> Path | None:
    """Store `dataset` (an `IndicatorDataset`) under `cache_dir`; the entry's folder, or None when
    the folder cannot be written (logged: the service then reads the CSVs at every start)."""
    target = Path(cache_dir) / entry_name(dataset.fingerprint)
    staging = None
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache_dir))
        _write_entry(staging, dataset)
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the image's entry from the service's user
        if target.exists():
            try:
                read_entry(target, dataset.fingerprint)
                return target  # another process wrote it meanwhile
            except CorruptEntry:
                shutil.rmtree(target, ignore_errors=True)  # the damaged entry being replaced
        os.replace(staging, target)
        staging = None
        log.info("binary form of the dataset written to %s", target)
        return target
    except OSError as exc:
        if target.is_dir() and (target / TABLES_FILE).is_file():
            return target  # another process wrote the same entry first
        log.warning(
            "cannot write the dataset's binary form to DATA_CACHE_DIR (%s); reading CSV each start", exc
        )
        return None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _array(folder: Path, name: str) -> np.ndarray:
    array: np.ndarray = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
    if array.dtype != ARRAYS[name]:
        raise CorruptEntry(f"{name}.npy holds {array.dtype}, expected {np.dtype(ARRAYS[name])}")
    return array


def read_entry(folder: Path, fingerprint: str) -> dict[str, Any]:
    """The parts of one entry, checked for consistency; `CorruptEntry` when they do not fit."""
    try:
        tables = json.loads((folder / TABLES_FILE).read_text(encoding="utf-8"))
        if tables.get("format") != FORMAT or tables.get("fingerprint") != fingerprint:
            raise CorruptEntry("written by another format or for other CSV files")
        rows, years = int(tables["rows"]), list(tables["years"])
        values = _array(folder, "values")
        countries, indicators = _array(folder, "countries"), _array(folder, "indicators")
        present = _array(folder, "present")
        if (
            values.shape != (len(years), rows)
            or countries.shape != (rows,)
            or indicators.shape != (rows,)
            or present.shape != (len(tables["indicators"]), len(years))
        ):
            raise CorruptEntry("array shapes do not match the tables")
        for codes, names in ((countries, tables["countries"]), (indicators, tables["indicators"])):
            if rows and (int(codes.min()) < 0 or int(codes.max()) >= len(names)):
                raise CorruptEntry("row codes point outside the name tables")
        meta = tables["meta"]
        if any(len(meta[column]) != len(meta["code"]) for column in META_COLUMNS):
            raise CorruptEntry("meta columns differ in length")
        if not isinstance(tables["datasets"], dict):
            raise CorruptEntry("datasets is not an object")
    except CorruptEntry:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptEntry(f"{type(exc).__name__}: {exc}") from exc
    return {
        **tables,
        "values": values,
        "country_codes": countries,
        "indicator_codes": indicators,
        "present": present,
    }


def lookup(fingerprint: str, cache_dir: Path) -> dict[str, Any] | None:
    """The entry for `fingerprint` from DATA_CACHE_DIR or the image's bundled folder, or None.

    A damaged entry in DATA_CACHE_DIR is reported and skipped (the caller writes a fresh one)."""
    for root in (cache_dir, BUNDLED_CACHE_DIR):
        folder = Path(root) / entry_name(fingerprint)
        if not folder.is_dir():
            continue
        try:
            return read_entry(folder, fingerprint)
        except CorruptEntry as exc:
            log.warning(
                "binary form of the dataset in %s is damaged (%s); rebuilding it from CSV", folder, exc
            )
    return None


def main(argv: list[str] | None = None) -> int:
    from common.settings import DEFAULT_DATASET_PATH, DEFAULT_MODEL_STORE_PATH
    from models._artifacts.store import load_model_store
    from shared_dataloader.errors import DatasetError
    from shared_dataloader.indicators import read_indicator_dataset

    parser = argparse.ArgumentParser(
        prog="python -m shared_dataloader.data_cache", description=__doc__.split("\n")[0]
    )
    parser.add_argument("dataset", nargs="?", type=Path, default=DEFAULT_DATASET_PATH)
    parser.add_argument(
        "--into", type=Path, default=BUNDLED_CACHE_DIR, help="cache folder (default: the bundled one)"
    )
    parser.add_argument(
        "--model-store",
        type=Path,
        default=DEFAULT_MODEL_STORE_PATH,
        help="model store whose skops artifacts get derived forms too (default: the bundled one)",
    )
    parser.add_argument(
        "--artifacts-only",
        action="store_true",
        help="write only the model store's derived forms, not the dataset's binary form",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        dataset = None if args.artifacts_only else read_indicator_dataset(args.dataset, cache_dir=None)
        store = load_model_store(args.model_store, [args.into])
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    failed = [
        f"{name}/{version}"
        for name in store.model_names()
        if (stored := store.get(name)) is not None
        for version in stored.failures
    ]
    if failed:
        print(f"error: model store versions that do not load: {', '.join(failed)}", file=sys.stderr)
    written = dataset is None or write(args.into, dataset) is not None
    return 0 if written and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
