"""Turn a survey request (rows or columns, plus question metadata) into clustering features.

Plain pandas; problems are `SurveyError`s whose message says what is valid.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

CATEGORICAL, CONTINUOUS = "categorical", "continuous"
GPS_LONGITUDE, GPS_LATITUDE = "GPS longitude", "GPS latitude"
QUESTION_TYPES = (CATEGORICAL, CONTINUOUS, GPS_LONGITUDE, GPS_LATITUDE)
METADATA_KEYS = ("Question Name", "Type", "Factor")
MISSING_CATEGORY = "missing"
MAX_ROWS, MAX_COLUMNS = 2000, 500


class SurveyError(ValueError):
    """The survey data or metadata cannot be used; `field` names the request field at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Features:
    """The kept rows' answers to one factor's questions, ready for clustering."""

    categorical: pd.DataFrame
    """Strings; a missing answer is its own category, `MISSING_CATEGORY`."""
    continuous: pd.DataFrame
    """Floats; missing answers imputed with the question's median (not yet scaled)."""
    rows: list[int]
    """0-based positions, in the request's data, of the kept rows (those with GPS coordinates)."""


def to_frame(table: Any, name: str, max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """A frame from a list of row objects or a column object ({column: [values]} or {column: {row: value}})."""
    if isinstance(table, list):
        if len(table) > max_rows:
            raise SurveyError(f"{name} has {len(table)} rows; at most {max_rows} are accepted", name)
        frame = pd.DataFrame.from_records(table)
    elif isinstance(table, dict):
        lengths = {column: len(values) for column, values in table.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{column}: {length}" for column, length in list(lengths.items())[:10])
            raise SurveyError(
                f"the columns of {name} have different lengths ({shown}); every column "
                "needs one value per row",
                name,
            )
        if lengths and next(iter(lengths.values())) > max_rows:
            raise SurveyError(
                f"{name} has {next(iter(lengths.values()))} rows; at most {max_rows} are accepted", name
            )
        keyed = [column for column, values in table.items() if isinstance(values, dict)]
        if keyed:
            keys = list(table[keyed[0]])
            if any(list(table[column]) != keys for column in keyed):
                raise SurveyError(f"the columns of {name} have different row keys", name)
        frame = pd.DataFrame(
            {
                column: list(values.values()) if isinstance(values, dict) else list(values)
                for column, values in table.items()
            }
        )
    else:
        raise SurveyError(f"{name} must be a list of row objects or an object of columns", name)
    if frame.shape[1] > MAX_COLUMNS:
        raise SurveyError(f"{name} has {frame.shape[1]} columns; at most {MAX_COLUMNS} are accepted", name)
    return frame


def read_metadata(metadata: Any) -> pd.DataFrame:
    """Question Name / Type / Factor rows, validated; Type normalised to the canonical spelling."""
    frame = to_frame(metadata, "metadata")
    missing = [key for key in METADATA_KEYS if key not in frame.columns]
    if missing:
        raise SurveyError(
            f"metadata lacks {', '.join(missing)}; each row needs {', '.join(METADATA_KEYS)}", "metadata"
        )
    frame = frame[list(METADATA_KEYS)].copy()
    if frame["Question Name"].isna().any():
        raise SurveyError("every metadata row needs a Question Name", "metadata")
    canonical = {kind.lower(): kind for kind in QUESTION_TYPES}
    types = frame["Type"].astype("string").str.strip().str.lower()
    unknown = sorted(set(frame["Type"][~types.isin(canonical)].astype(str)))
    if unknown:
        raise SurveyError(
            f"unknown question type(s) {', '.join(unknown)}; valid: {', '.join(QUESTION_TYPES)}", "metadata"
        )
    frame["Type"] = types.map(canonical)
    frame["Question Name"] = frame["Question Name"].astype(str)
    return frame


def _numeric(column: pd.Series, question: str) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce")
    bad = column[values.isna() & column.notna()]
    if len(bad):
        raise SurveyError(
            f"question {question} is continuous but has a non-numeric answer "
            f"{bad.iloc[0]!r} (row {bad.index[0]})",
            "data",
        )
    return values.astype("float64")


def build_features(data: Any, metadata: Any, factor: str) -> Features:
    """Validate the request and return the chosen factor's features on the rows with GPS."""
    meta = read_metadata(metadata)
    frame = to_frame(data, "data")
    if frame.empty:
        raise SurveyError("data has no rows", "data")
    absent = [q for q in meta["Question Name"] if q not in frame.columns]
    if absent:
        raise SurveyError(
            f"metadata names question(s) that are not in the data: {', '.join(absent[:20])}", "metadata"
        )
    factors = sorted(set(meta["Factor"].dropna().astype(str)))
    if factor not in factors:
        raise SurveyError(f"unknown factor {factor!r}; valid: {', '.join(factors)}", "factor")
    own = meta[meta["Factor"].map(lambda value: value == factor).astype(bool)]
    categorical = list(own.loc[own["Type"] == CATEGORICAL, "Question Name"])
    continuous = list(own.loc[own["Type"] == CONTINUOUS, "Question Name"])
    if not categorical and not continuous:
        raise SurveyError(
            f"factor {factor!r} has no categorical or continuous questions to cluster on", "factor"
        )

    keep = pd.Series(True, index=frame.index)
    for question in meta.loc[meta["Type"].isin([GPS_LONGITUDE, GPS_LATITUDE]), "Question Name"]:
        keep &= pd.to_numeric(frame[question], errors="coerce").notna()
    kept = frame[keep.to_numpy()]
    if kept.empty:
        raise SurveyError("no row has GPS coordinates; rows without them are dropped", "data")

    numbers = pd.DataFrame({q: _numeric(kept[q], q) for q in continuous}, index=kept.index)
    numbers = numbers.loc[:, numbers.notna().any()]
    numbers = numbers.fillna(numbers.median())
    labels = pd.DataFrame(
        {q: kept[q].map(lambda v: MISSING_CATEGORY if _absent(v) else str(v)) for q in categorical},
        index=kept.index,
    )
    if labels.empty and numbers.empty:
        raise SurveyError(
            f"factor {factor!r} has no answers to cluster on in the rows with GPS coordinates", "factor"
        )
    return Features(categorical=labels, continuous=numbers, rows=[int(i) for i in np.flatnonzero(keep)])


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
