"""Batch scoring of a CSV or JSON-lines file: a synchronous service function, so it can run on the
compute pool now and as a queued job later. Output: the input rows plus `prediction` and one
`probability_<label>` column per label, as CSV or JSON lines."""

import io
import json

import numpy as np
import pandas as pd

from models._artifacts.serving import ServedVersion
from models._artifacts.spec import TEXT, InstanceError, ModelSpec, tabular_columns, text_batch

FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
MAX_ROWS = 100_000
CHUNK = 2_000


def input_format(filename: str | None, content_type: str | None) -> str | None:
    name = (filename or "").lower()
    if name.endswith(".csv") or content_type == "text/csv":
        return "csv"
    if name.endswith((".jsonl", ".ndjson")) or content_type in ("application/x-ndjson",
                                                                 "application/jsonl"):
        return "jsonl"
    return None


def _read_csv(spec: ModelSpec, content: bytes) -> pd.DataFrame:
    try:
        frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InstanceError(f"the file is not readable CSV ({exc})") from None
    needed = ["text"] if spec.kind == TEXT else spec.feature_names
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        raise InstanceError(f"the CSV lacks the columns {', '.join(missing)}; "
                            f"it needs a header with {', '.join(needed)}")
    return frame


def _read_jsonl(spec: ModelSpec, content: bytes) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(content.decode("utf-8", errors="strict").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise InstanceError(f"line {number} is not valid JSON") from None
        if spec.kind == TEXT:
            value = {"text": value} if isinstance(value, str) else value
            if not isinstance(value, dict) or not isinstance(value.get("text"), str):
                raise InstanceError(f"line {number} must be a string or an object with a text field")
        elif isinstance(value, list):
            if len(value) != len(spec.features):
                raise InstanceError(f"line {number} has {len(value)} values; expected "
                                    f"{len(spec.features)}: {', '.join(spec.feature_names)}")
            value = dict(zip(spec.feature_names, value))
        elif not isinstance(value, dict):
            raise InstanceError(f"line {number} must be an object of features or an array")
        rows.append(value)
    return pd.DataFrame(rows, columns=None if rows else ["text"])


def _tabular(spec: ModelSpec, frame: pd.DataFrame, from_csv: bool) -> dict[str, np.ndarray]:
    if not from_csv:
        records = [{name: row.get(name) for name in spec.feature_names}
                   for row in frame.to_dict(orient="records")]
        records = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
                   for r in records]
        return tabular_columns(spec, records)
    columns = {}
    for feature in spec.features:
        raw = frame[feature.name]
        if feature.kind == "number":
            values = pd.to_numeric(raw.replace("", None), errors="coerce")
            bad = values.isna() & raw.ne("")
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
                raise InstanceError(f"row {row}: {feature.name} must be a number, not {raw[bad].iloc[0]!r}")
            columns[feature.name] = values.to_numpy(dtype=np.float64)
        else:
            columns[feature.name] = np.array([v if v != "" else None for v in raw], dtype=object)
    return columns


def score_batch(spec: ModelSpec, served: ServedVersion, content: bytes, fmt: str,
                output: str | None = None, max_rows: int = MAX_ROWS) -> tuple[bytes, str]:
    """Score every row of a CSV / JSON-lines file; returns (scored file, its format)."""
    try:
        frame = _read_csv(spec, content) if fmt == "csv" else _read_jsonl(spec, content)
    except UnicodeDecodeError:
        raise InstanceError("the file must be UTF-8 text") from None
    if frame.empty:
        raise InstanceError("the file has no rows to score")
    if len(frame) > max_rows:
        raise InstanceError(f"the file has {len(frame)} rows; at most {max_rows} per batch")
    if spec.kind == TEXT:
        batch = text_batch(spec, frame["text"].tolist())
        chunks = [(batch[i:i + CHUNK], len(batch[i:i + CHUNK])) for i in range(0, len(batch), CHUNK)]
    else:
        batch = _tabular(spec, frame, fmt == "csv")
        chunks = [({k: v[i:i + CHUNK] for k, v in batch.items()}, min(CHUNK, len(frame) - i))
                  for i in range(0, len(frame), CHUNK)]
    probabilities = np.vstack([served.score(chunk, size) for chunk, size in chunks])
    scored = frame.copy()
    scored["prediction"] = [spec.labels[i] for i in probabilities.argmax(axis=1)]
    for j, label in enumerate(spec.labels):
        scored[f"probability_{label}"] = probabilities[:, j]
    output = output or fmt
    if output == "csv":
        return scored.to_csv(index=False).encode("utf-8"), output
    return scored.to_json(orient="records", lines=True, force_ascii=False).encode("utf-8"), output
