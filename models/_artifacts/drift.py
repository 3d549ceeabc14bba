"""Input drift against the training data: population stability index (PSI) per feature and, for
text, the share of tokens never seen in training. Plain functions on arrays and lists.

The reference profile is computed from the training data when a version is trained and stored
next to it (`drift_reference.json`); live inputs are binned the same way and compared.
"""

import re
from collections import Counter

import numpy as np
from numpy.typing import ArrayLike

TOKEN = re.compile(r"(?u)\b\w\w+\b")
QUANTILES = np.linspace(0.1, 0.9, 9)
EPSILON = 1e-4
MISSING, OTHER = "__missing__", "__other__"
MIN_SAMPLES = 30
MAX_CATEGORIES = 50


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def psi(expected: ArrayLike, actual: ArrayLike) -> float:
    """Σ (a − e) · ln(a / e) over bins; shares are floored at a small epsilon."""
    e = np.maximum(np.asarray(expected, dtype=float), EPSILON)
    a = np.maximum(np.asarray(actual, dtype=float), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def level(value: float) -> str:
    """The usual reading of a PSI value."""
    return "stable" if value < 0.1 else "moderate" if value < 0.25 else "significant"


def _numeric_shares(values: np.ndarray, edges: list[float]) -> list[float]:
    values = np.asarray(values, dtype=float)
    present = values[~np.isnan(values)]
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    counts = np.append(counts, values.size - present.size).astype(float)
    return (counts / max(values.size, 1)).tolist()


def _category_shares(values, categories: list[str]) -> list[float]:
    known = set(categories)
    counts = Counter(MISSING if v is None else v if v in known else OTHER for v in values)
    total = max(sum(counts.values()), 1)
    return [counts.get(c, 0) / total for c in [*categories, OTHER, MISSING]]


def numeric_profile(values: np.ndarray) -> dict:
    present = np.asarray(values, dtype=float)
    present = present[~np.isnan(present)]
    edges = sorted(set(np.quantile(present, QUANTILES).tolist())) if present.size else []
    return {"type": "number", "edges": edges, "expected": _numeric_shares(values, edges)}


def category_profile(values) -> dict:
    counts = Counter(v for v in values if v is not None)
    categories = [c for c, _ in counts.most_common(MAX_CATEGORIES)]
    return {"type": "category", "categories": categories, "expected": _category_shares(values, categories)}


def tabular_reference(columns: dict[str, np.ndarray], kinds: dict[str, str]) -> dict:
    return {
        "kind": "tabular",
        "rows": len(next(iter(columns.values()))),
        "features": {
            name: numeric_profile(values) if kinds[name] == "number" else category_profile(values)
            for name, values in columns.items()
        },
    }


def text_reference(texts: list[str]) -> dict:
    lengths = np.array([len(tokens(t)) for t in texts], dtype=float)
    vocabulary = sorted({token for text in texts for token in tokens(text)})
    return {
        "kind": "text",
        "rows": len(texts),
        "vocabulary": vocabulary,
        "features": {"tokens_per_text": numeric_profile(lengths)},
    }


def _feature_report(profile: dict, values) -> dict:
    if profile["type"] == "number":
        actual = _numeric_shares(values, profile["edges"])
    else:
        actual = _category_shares(values, profile["categories"])
    value = psi(profile["expected"], actual)
    return {"psi": round(value, 6), "level": level(value)}


def tabular_drift(reference: dict, columns: dict[str, list]) -> dict:
    return {
        "features": {
            name: _feature_report(profile, columns[name])
            for name, profile in reference["features"].items()
            if name in columns
        }
    }


def text_drift(reference: dict, texts: list[str]) -> dict:
    vocabulary = set(reference["vocabulary"])
    split = [tokens(t) for t in texts]
    all_tokens = [token for text_tokens in split for token in text_tokens]
    unknown = sum(token not in vocabulary for token in all_tokens)
    lengths = np.array([len(t) for t in split], dtype=float)
    return {
        "unknown_token_share": round(unknown / len(all_tokens), 6) if all_tokens else None,
        "features": {"tokens_per_text": _feature_report(reference["features"]["tokens_per_text"], lengths)},
    }


def drift_report(reference: dict | None, window: list[str] | dict[str, list]) -> dict:
    """Compare the recent inputs (`window`: texts, or per-feature value lists) with the reference."""
    samples = len(window) if isinstance(window, list) else len(next(iter(window.values()), []))
    report = {"samples": samples, "min_samples": MIN_SAMPLES}
    if reference is None:
        return {
            **report,
            "status": "no_reference",
            "detail": "This version was registered without a drift reference.",
        }
    if samples < MIN_SAMPLES:
        return {
            **report,
            "status": "insufficient_data",
            "detail": f"Drift needs at least {MIN_SAMPLES} recent instances; "
            f"this process has scored {samples}.",
        }
    body = text_drift(reference, window) if isinstance(window, list) else tabular_drift(reference, window)
    worst = max((f["psi"] for f in body["features"].values()), default=0.0)
    return {**report, "status": level(worst), **body}
