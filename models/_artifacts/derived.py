"""A faster form of a skops artifact, derived from it once and read at every later start (issue 18).

skops rebuilds a text vectorizer's vocabulary (a dict of 10^4–10^5 terms) node by node, auditing
each: about a second per `sentiment` version. The derived form splits that out:

- `model.skops`: the same estimator with each vocabulary emptied — loaded by `load_skops`, so the
  same trusted types apply;
- `vocabularies.json`: per vectorizer, where it sits in the estimator (attribute names and list
  indexes from the root) and its terms in column order;
- the *linear form* (`linear.py`: `linear.json`, `idf.npy`, `coef.npy`) of a TF-IDF + binary logistic
  regression pipeline, checked against the pipeline when the entry is written: the API process scores
  such a model from it alone, without importing scikit-learn, SciPy or skops.

Loading it gives an estimator equal to the original (the vocabularies are the same mappings), so its
predictions are identical. Never a pickle. An entry is a folder
`artifact-v<FORMAT>-<artifact sha256>-sklearn<version>-skops<version>/` under DATA_CACHE_DIR (or the
image's bundled cache folder); the artifact's sha256 is checked against its metadata before the
derived form is looked up, so a replaced artifact gets a new entry. A damaged entry is logged and
rebuilt from the artifact; an unwritable folder only costs the slow load at each start.

An entry is written for every skops artifact that loads, with `vocabularies.json` = `[]` (and no
`model.skops`) when it has no large vocabulary and a linear form only when the pipeline has one, and
for every ONNX artifact that passes the ONNX checker (`checked`:
`artifact-v<FORMAT>-<sha256>-onnx<version>/`). Its presence records that the artifact with that sha256
loaded with these library versions (and for ONNX, passed the checker), so a later start can report it
servable from its checksum alone and deserialize it after readiness (`verified`).
"""

import copy
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from models._artifacts import linear

log = logging.getLogger(__name__)

FORMAT = 2
"""2: entries may hold a linear form (1 had none: its entries are not read any more)."""
MODEL_FILE = "model.skops"
VOCABULARIES_FILE = "vocabularies.json"
CHECKED_FILE = "checked"
MIN_TERMS = 256
"""Vocabularies smaller than this stay in the skops file (nothing to gain)."""

Location = list[str | int]
"""Attribute names and list indexes from the estimator to a vectorizer."""


class DamagedEntry(Exception):
    """A derived entry that cannot be used; the caller loads the artifact itself."""


@cache
def _installed(distribution: str) -> str:
    return installed_version(distribution)


def entry_name(artifact_sha256: str, fmt: str = "skops") -> str:
    if fmt == "onnx":
        return f"artifact-v{FORMAT}-{artifact_sha256}-onnx{_installed('onnx')}"
    return (
        f"artifact-v{FORMAT}-{artifact_sha256}-sklearn{_installed('scikit-learn')}-skops{_installed('skops')}"
    )


def verified(artifact_sha256: str, fmt: str, cache_dirs: list[Path]) -> bool:
    """Whether one of `cache_dirs` holds the entry of the artifact with that sha256 (skops: its derived
    form; onnx: its `checked` record), written after it loaded with the installed library versions.
    Only looks at the files' presence; a damaged derived form is found when it is read."""
    name, wanted = entry_name(artifact_sha256, fmt), CHECKED_FILE if fmt == "onnx" else VOCABULARIES_FILE
    return any((Path(root) / name / wanted).is_file() for root in cache_dirs)


def record_checked(cache_dir: Path, artifact_sha256: str) -> None:
    """Record that the ONNX artifact with that sha256 passed the checker; an unwritable folder only
    means it is checked again at the next start."""
    target = Path(cache_dir) / entry_name(artifact_sha256, "onnx")
    try:
        target.mkdir(parents=True, exist_ok=True)
        (target / CHECKED_FILE).touch()
    except OSError as exc:
        log.warning("cannot record the checked ONNX artifact %s (%s)", artifact_sha256[:12], exc)


def _vocabularies(obj: Any, path: Location) -> Iterator[tuple[Location, Any]]:
    """(path, owner) of every fitted vocabulary (`vocabulary_`, a dict of str → int) in the estimator
    tree: estimators' attributes and the lists/tuples they hold (pipeline steps, column transformers)."""
    from sklearn.base import BaseEstimator

    if isinstance(obj, BaseEstimator):
        vocabulary = getattr(obj, "vocabulary_", None)
        if isinstance(vocabulary, dict) and len(vocabulary) >= MIN_TERMS:
            yield path, obj
        for name, value in sorted(vars(obj).items()):
            if name != "vocabulary_":
                yield from _vocabularies(value, [*path, name])
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            yield from _vocabularies(value, [*path, index])


def _follow(root: Any, path: Location) -> Any:
    obj = root
    for step in path:
        obj = obj[step] if isinstance(step, int) else getattr(obj, step)
    return obj


def _terms_in_column_order(vocabulary: dict[str, int]) -> list[str]:
    terms = [""] * len(vocabulary)
    for term, column in vocabulary.items():
        terms[column] = term
    if sorted(vocabulary.values()) != list(range(len(vocabulary))):
        raise ValueError("vocabulary columns are not 0..n-1")
    return terms


def write(
    cache_dir: Path,
    artifact_sha256: str,
    estimator: Any,
    replace_damaged: bool = False,
    check_texts: Iterable[str] = (),
) -> Path | None:
    """Store the derived form of `estimator` (loaded from the artifact with that sha256); the entry's
    folder, or None when the folder cannot be written. Without a large vocabulary the entry holds only
    `vocabularies.json` = `[]` (the artifact is read as it is); the linear form is added when the
    estimator has one that agrees with it on `linear.check_texts` plus `check_texts`. An existing entry
    is kept (another process, e.g. a second worker starting alongside, wrote it) unless
    `replace_damaged`."""
    import skops.io

    found = list(_vocabularies(estimator, []))
    target = Path(cache_dir) / entry_name(artifact_sha256)
    if target.exists() and not replace_damaged:
        return target
    linear_form = linear.derive(estimator, check_texts)
    staging = None
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache_dir))
        slim = copy.deepcopy(estimator) if found else estimator
        records = []
        for path, _owner in found:
            owner = _follow(slim, path)
            records.append({"path": path, "terms": _terms_in_column_order(owner.vocabulary_)})
            owner.vocabulary_ = {}
        if found:
            skops.io.dump(slim, staging / MODEL_FILE)
        if linear_form is not None:
            linear.save(linear_form, staging)
        (staging / VOCABULARIES_FILE).write_text(json.dumps(records), encoding="utf-8")
        staging.chmod(0o755)
        if target.exists():
            if not replace_damaged:
                return target
            shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        staging = None
        log.info(
            "derived form of artifact %s written to %s%s",
            artifact_sha256[:12],
            target,
            " (with its linear form)" if linear_form is not None else "",
        )
        return target
    except (OSError, ValueError) as exc:
        log.warning("cannot write the derived form of artifact %s (%s)", artifact_sha256[:12], exc)
        return None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def read(folder: Path, load_skops: Callable[[Path], Any]) -> Any:
    """The estimator of a derived entry, its vocabularies put back; None when the entry derives nothing
    (no large vocabulary: the artifact is read as it is); DamagedEntry if it is unusable."""
    try:
        records = json.loads((folder / VOCABULARIES_FILE).read_text(encoding="utf-8"))
        if not isinstance(records, list):
            raise ValueError("vocabularies.json is not a list")
        if not records:
            return None
        estimator = load_skops(folder / MODEL_FILE)
        for record in records:
            owner = _follow(estimator, record["path"])
            terms = record["terms"]
            if (
                owner.vocabulary_ != {}
                or not all(isinstance(t, str) for t in terms)
                or len(set(terms)) != len(terms)
            ):
                raise ValueError(f"vocabulary at {record['path']} does not fit the estimator")
            owner.vocabulary_ = {term: column for column, term in enumerate(terms)}
        return estimator
    except Exception as exc:  # any failure means: load the artifact itself
        raise DamagedEntry(f"{folder.name}: {type(exc).__name__}: {exc}") from None


def load(
    artifact: Path,
    artifact_sha256: str,
    cache_dirs: list[Path],
    load_skops: Callable[[Path], Any],
    check_texts: Callable[[], Iterable[str]] = tuple,
) -> Any:
    """The estimator of a skops `artifact` whose sha256 was checked, from its derived form in the first
    of `cache_dirs` holding one; otherwise loaded from the artifact and its derived form written to
    `cache_dirs[0]` (the writable one) for the next start, its linear form checked on `check_texts()`
    too."""
    name = entry_name(artifact_sha256)
    damaged = False
    for index, root in enumerate(cache_dirs):
        folder = Path(root) / name
        if folder.is_dir():
            try:
                estimator = read(folder, load_skops)
            except DamagedEntry as exc:
                log.error("derived artifact form skipped, loading the artifact: %s", exc)
                damaged = damaged or index == 0
                continue
            return load_skops(artifact) if estimator is None else estimator
    estimator = load_skops(artifact)
    if cache_dirs:
        write(cache_dirs[0], artifact_sha256, estimator, replace_damaged=damaged, check_texts=check_texts())
    return estimator


def linear_form(artifact_sha256: str, cache_dirs: list[Path]) -> "linear.LinearTextModel | None":
    """The linear form in the first entry of the skops artifact with that sha256 that holds one; None
    when none does (the artifact is then scored where scikit-learn may load). A damaged one is logged
    and skipped."""
    name = entry_name(artifact_sha256)
    for root in cache_dirs:
        folder = Path(root) / name
        if (folder / linear.LINEAR_FILE).is_file():
            try:
                return linear.read(folder)
            except linear.UnusableForm as exc:
                log.error("linear form in %s skipped: %s", folder, exc)
    return None


def has_linear_form(artifact_sha256: str, cache_dirs: list[Path]) -> bool:
    """Whether an entry of the skops artifact with that sha256 holds a linear form (presence only)."""
    name = entry_name(artifact_sha256)
    return any((Path(root) / name / linear.LINEAR_FILE).is_file() for root in cache_dirs)
