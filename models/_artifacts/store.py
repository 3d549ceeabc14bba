"""The trained-artifact model store: `<root>/<model>/<version>/{metadata.json, model.skops|model.onnx}`.

Reads and validates the store and loads artifacts safely; knows nothing of HTTP or of how a model is
served. A version that fails to load (corrupt file, checksum mismatch, untrusted type, framework
version mismatch) is recorded with its reason and skipped; the other versions keep serving.

Loading a version verifies it: metadata, the artifact's sha256, framework versions. An artifact whose
entry in the cache folders (`derived.py`) records that it loaded before is deserialized later, on first
use (`StoredVersion.artifact`, once, under a lock), so a start does no deserialization and imports no
scikit-learn, skops or ONNX; any other artifact is deserialized at once, which writes that entry. An
*isolated* store (the one the API process serves from, `load_model_store(..., isolated=True)`) has that
done by a child process (`python -m models._artifacts.verify`), so that scikit-learn, SciPy and skops
never load in the API process: it serves from `StoredVersion.serving_form` (the linear form of a text
pipeline) and has compute processes score ONNX models and the other pipelines (`pipelines.py`).

`<root>/<model>/routing.json` (optional) picks the default version and an A/B traffic split:
`{"default": "2", "split": {"1": 0.5, "2": 0.5}}`. Folders whose name starts with `_` or `.` are
not models (the training data lives in `_data/`).
"""

import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from common.settings import REPO_ROOT
from models._artifacts import derived, linear
from shared_dataloader.errors import DatasetError

log = logging.getLogger(__name__)

FORMATS = {"skops": "model.skops", "onnx": "model.onnx"}
METADATA_FILE = "metadata.json"
ROUTING_FILE = "routing.json"
DRIFT_FILE = "drift_reference.json"
REQUIRED_METADATA = (
    "name",
    "version",
    "format",
    "artifact_sha256",
    "input_schema",
    "labels",
    "frameworks",
    "created",
    "metrics",
    "training_data",
)
SKOPS_ALLOWED_TYPES = frozenset(
    {
        # Beyond skops' own trusted scikit-learn/NumPy/SciPy types, only these may be loaded.
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)
RECHECK_SECONDS = 2.0
VERIFY_TIMEOUT_SECONDS = 600.0
"""Time limit of the child process that verifies an isolated store's new artifacts."""
WORDS_PER_CHECK_TEXT = 8
"""A text model's training vocabulary (drift reference) is cut into texts of this many words to check
its linear form on."""


class ArtifactError(Exception):
    """An artifact or its metadata cannot be served; the message says why."""


class Artifact:
    """The deserialized artifact of a verified version: given, or loaded by `load` on first `get`, once
    (callers wait for a load in progress under the lock); a failed load raises the same ArtifactError
    at every `get`."""

    def __init__(self, load: Callable[[], Any] | None = None, value: Any = None) -> None:
        self._load = load
        self._value = value
        self._error: ArtifactError | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._load is None

    def get(self) -> Any:
        if self._load is not None:
            with self._lock:
                if self._error is None and self._load is not None:
                    try:
                        self._value = self._load()
                        self._load = None
                    except ArtifactError as exc:
                        self._error = exc
        if self._error is not None:
            raise self._error
        return self._value


@dataclass(frozen=True)
class StoredVersion:
    """One verified version: its metadata and its artifact (a fitted estimator for skops, serialized
    ONNX bytes for onnx; `artifact` deserializes it on first use), what the API process serves it from
    (`serving_form`, read on first use), plus the optional drift reference."""

    model: str
    version: str
    path: Path
    metadata: dict
    content: Artifact
    drift_reference: dict | None = None
    form: Artifact = field(default_factory=Artifact)
    cache_dirs: list[Path] = field(default_factory=list)
    """Where the artifact's entry (derived form, linear form) is looked up; the first is written."""

    @property
    def format(self) -> str:
        return self.metadata["format"]

    @property
    def artifact_path(self) -> Path:
        return self.path / FORMATS[self.format]

    @property
    def artifact(self) -> Any:
        """The deserialized artifact; ArtifactError if it cannot be (reported as a skipped version)."""
        return self.content.get()

    @property
    def serving_form(self) -> "linear.LinearTextModel | None":
        """What this version is served from without scikit-learn or onnxruntime: the linear form of a
        skops text pipeline, or None (an ONNX model or a pipeline, scored by `pipelines.py`);
        ArtifactError if the artifact changed since it was verified."""
        return self.form.get()


@dataclass(frozen=True)
class Routing:
    default: str | None = None
    split: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredModel:
    name: str
    versions: dict[str, StoredVersion]
    failures: dict[str, str]
    routing: Routing
    routing_error: str | None = None

    @property
    def default_version(self) -> str | None:
        if self.routing.default in self.versions:
            return self.routing.default
        return max(self.versions, key=version_key) if self.versions else None


def version_key(name: str) -> tuple:
    """Numeric versions sort numerically ("10" after "9"), others after them by name."""
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _major_minor(text: str) -> str:
    return ".".join(str(text).split(".")[:2])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path.name} is missing") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path.name} is not valid JSON ({exc})") from None


def check_frameworks(metadata: dict) -> None:
    """Refuse an artifact built with another scikit-learn major.minor (skops) than the installed one."""
    recorded = metadata["frameworks"]
    if metadata["format"] == "skops":
        wanted = recorded.get("scikit-learn")
        have = installed_version("scikit-learn")
        if wanted is None or _major_minor(wanted) != _major_minor(have):
            raise ArtifactError(
                f"trained with scikit-learn {wanted}, but {have} is installed; retrain or re-export the model"
            )


def load_skops(path: Path) -> Any:
    """Load a skops file trusting only skops' defaults plus `SKOPS_ALLOWED_TYPES` (never raw pickle).

    One pass over the file: skops refuses any other type while it loads (the file is only audited
    a second time, to name the refused types, when that happens)."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return skops.io.load(path, trusted=sorted(SKOPS_ALLOWED_TYPES))
    except UntrustedTypesFoundException:
        try:
            untrusted = skops.io.get_untrusted_types(file=path)
        except Exception:
            untrusted = ["(unreadable)"]
        refused = sorted(set(untrusted) - SKOPS_ALLOWED_TYPES)
        raise ArtifactError(
            f"{path.name} contains types that are not allowed: {', '.join(refused)}"
        ) from None
    except Exception as exc:
        raise ArtifactError(
            f"{path.name} is not a readable skops file ({type(exc).__name__}: {exc})"
        ) from None


def load_onnx(path: Path) -> bytes:
    """Read and check an ONNX model; the serving runtime builds its session from these bytes."""
    import onnx

    data = path.read_bytes()
    try:
        onnx.checker.check_model(onnx.load_from_string(data))
    except Exception as exc:
        raise ArtifactError(f"{path.name} is not a valid ONNX model ({type(exc).__name__}: {exc})") from None
    return data


def check_texts(folder: Path) -> list[str]:
    """Texts of a version's training vocabulary (its text drift reference, a few words per text) to
    check a linear form on; none for a tabular model or without a reference."""
    try:
        reference = json.loads((folder / DRIFT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    vocabulary = reference.get("vocabulary") if isinstance(reference, dict) else None
    if not isinstance(vocabulary, list) or not all(isinstance(word, str) for word in vocabulary):
        return []
    return [
        " ".join(vocabulary[start : start + WORDS_PER_CHECK_TEXT])
        for start in range(0, len(vocabulary), WORDS_PER_CHECK_TEXT)
    ]


def _changed(artifact_path: Path) -> ArtifactError:
    return ArtifactError(f"{artifact_path.name} changed since it was verified; reload the model")


def _onnx_bytes(artifact_path: Path, sha256: str, cache_dirs: list[Path], recheck: bool) -> bytes:
    """The ONNX model's bytes; checked by the ONNX checker (which imports `onnx`) unless an entry
    records that the artifact with that sha256 passed it, and that entry written otherwise."""
    if not derived.verified(sha256, "onnx", cache_dirs):
        if recheck and sha256_file(artifact_path) != sha256:
            raise _changed(artifact_path)
        data = load_onnx(artifact_path)
        if cache_dirs:
            derived.record_checked(cache_dirs[0], sha256)
        return data
    data = artifact_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise _changed(artifact_path)
    return data


def read_onnx(artifact_path: Path, sha256: str, cache_dirs: list[Path]) -> bytes:
    """The checked bytes of an ONNX artifact read later than it was verified (its sha256 checked again)."""
    return _onnx_bytes(artifact_path, sha256, cache_dirs, recheck=True)


def deserialize_skops(artifact_path: Path, sha256: str, cache_dirs: list[Path], recheck: bool = True) -> Any:
    """The estimator of a skops artifact, read from its derived form in `cache_dirs` when one is there
    (`derived.py`), its entry in `cache_dirs[0]` afterwards. `recheck`: the file's sha256 is compared
    with `sha256` again (deserialized later than it was verified)."""
    if recheck and sha256_file(artifact_path) != sha256:
        raise _changed(artifact_path)
    return derived.load(
        artifact_path, sha256, cache_dirs, load_skops, lambda: check_texts(artifact_path.parent)
    )


def _deserialize(artifact_path: Path, metadata: dict, cache_dirs: list[Path], recheck: bool = False) -> Any:
    """The artifact itself: `deserialize_skops`, or the checked ONNX bytes."""
    sha256 = metadata["artifact_sha256"]
    if metadata["format"] == "skops":
        return deserialize_skops(artifact_path, sha256, cache_dirs, recheck)
    return _onnx_bytes(artifact_path, sha256, cache_dirs, recheck)


def _serving_form(artifact_path: Path, metadata: dict, cache_dirs: list[Path]) -> Any:
    """`StoredVersion.serving_form`: read without scikit-learn or skops, the artifact's sha256 checked
    again (read later than it was verified). An ONNX model has none: `pipelines.pipeline` reads it."""
    if metadata["format"] == "onnx":
        return None
    sha256 = metadata["artifact_sha256"]
    if sha256_file(artifact_path) != sha256:
        raise _changed(artifact_path)
    return derived.linear_form(sha256, cache_dirs)


Verify = Callable[[Path], "str | None"]
"""How a version folder whose artifact is not recorded in the cache folders is verified: None when its
artifact deserializes, else why it cannot be served."""


def verify_in_child(folders: list[Path], cache_dirs: list[Path]) -> dict[str, str | None]:
    """Deserialize the artifacts of `folders` in a child process (`python -m models._artifacts.verify`),
    which writes their entries into `cache_dirs[0]`, so that this process loads neither scikit-learn nor
    skops: folder → None (it deserialized) or why it cannot be served. A child that fails gives every
    folder that failure as its reason."""
    command = [
        sys.executable,
        "-m",
        "models._artifacts.verify",
        *(f"--cache={folder}" for folder in cache_dirs),
        *(str(folder) for folder in folders),
    ]
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": path},
            capture_output=True,
            text=True,
            timeout=VERIFY_TIMEOUT_SECONDS,
        )
        verdicts = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
        problem = f"exit status {done.returncode}: {done.stderr.strip()[-500:]}"
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        verdicts, problem = None, f"{type(exc).__name__}: {exc}"
    if not isinstance(verdicts, dict):
        log.error("verifying %s in a child process failed (%s)", ", ".join(map(str, folders)), problem)
        reason = f"could not be verified (the verifying process failed: {problem})"
        return {str(folder): reason for folder in folders}
    log.info(
        "%d artifact(s) verified in a child process in %.2f s", len(folders), time.perf_counter() - started
    )
    return {str(folder): verdicts.get(str(folder), "was not verified") for folder in folders}


def load_version(
    folder: Path, cache_dirs: list[Path] | None = None, verify: Verify | None = None
) -> StoredVersion:
    """Load and verify one version folder. The artifact is deserialized on first use when an entry in
    `cache_dirs` records that it loaded before; otherwise at once here, or by `verify` when given (an
    isolated store: in a child process), ArtifactError either way if it cannot be."""
    cache_dirs = list(cache_dirs or [])
    metadata = _read_json(folder / METADATA_FILE)
    if not isinstance(metadata, dict):
        raise ArtifactError(f"{METADATA_FILE} must be a JSON object")
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ArtifactError(f"{METADATA_FILE} lacks {', '.join(missing)}")
    if str(metadata["version"]) != folder.name or metadata["name"] != folder.parent.name:
        raise ArtifactError(
            f"{METADATA_FILE} names {metadata['name']}/{metadata['version']}, "
            f"but the folder is {folder.parent.name}/{folder.name}"
        )
    if metadata["format"] not in FORMATS:
        raise ArtifactError(f"unknown format {metadata['format']!r}; supported: {', '.join(FORMATS)}")
    artifact_path = folder / FORMATS[metadata["format"]]
    if not artifact_path.is_file():
        raise ArtifactError(f"{artifact_path.name} is missing")
    if sha256_file(artifact_path) != metadata["artifact_sha256"]:
        raise ArtifactError(f"{artifact_path.name} does not match its recorded sha256 (corrupt or replaced)")
    check_frameworks(metadata)
    lazy = Artifact(lambda: _deserialize(artifact_path, metadata, cache_dirs, recheck=True))
    if derived.verified(metadata["artifact_sha256"], metadata["format"], cache_dirs):
        content = lazy
    elif verify is not None:
        problem = verify(folder)
        if problem is not None:
            raise ArtifactError(problem)
        content = lazy
    else:
        content = Artifact(value=_deserialize(artifact_path, metadata, cache_dirs))
    reference = _read_json(folder / DRIFT_FILE) if (folder / DRIFT_FILE).is_file() else None
    return StoredVersion(
        model=folder.parent.name,
        version=folder.name,
        path=folder,
        metadata=metadata,
        content=content,
        drift_reference=reference,
        form=Artifact(lambda: _serving_form(artifact_path, metadata, cache_dirs)),
        cache_dirs=cache_dirs,
    )


def _read_routing(folder: Path, versions: dict) -> Routing:
    path = folder / ROUTING_FILE
    if not path.is_file():
        return Routing()
    raw = _read_json(path)
    if not isinstance(raw, dict):
        raise ArtifactError(f"{ROUTING_FILE} must be a JSON object")
    default = raw.get("default")
    split = raw.get("split") or {}
    if default is not None and str(default) not in versions:
        raise ArtifactError(f"{ROUTING_FILE}: default version {default!r} is not loaded")
    if not isinstance(split, dict) or not all(isinstance(w, (int, float)) and w >= 0 for w in split.values()):
        raise ArtifactError(f"{ROUTING_FILE}: split must map versions to non-negative weights")
    unknown = [str(v) for v in split if str(v) not in versions]
    if unknown:
        raise ArtifactError(f"{ROUTING_FILE}: split names versions that are not loaded: {', '.join(unknown)}")
    if split and sum(split.values()) <= 0:
        raise ArtifactError(f"{ROUTING_FILE}: split weights must not all be zero")
    return Routing(
        default=None if default is None else str(default),
        split={str(v): float(w) for v, w in split.items() if w > 0},
    )


def _files_signature(folder: Path) -> tuple:
    with os.scandir(folder) as it:
        return tuple(sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in it))


def _still_valid(routing: Routing | None, versions: dict) -> bool:
    return (
        routing is not None
        and (routing.default is None or routing.default in versions)
        and all(v in versions for v in routing.split)
    )


def _unrecorded(folder: Path, cache_dirs: list[Path]) -> bool:
    """Whether the version folder's metadata names an artifact no entry in `cache_dirs` records (an
    unreadable one is not: loading it reports why)."""
    try:
        metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
        return not derived.verified(metadata["artifact_sha256"], metadata["format"], cache_dirs)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _child_verifier(folders: list[Path], cache_dirs: list[Path]) -> Verify:
    """A `Verify` whose first use deserializes, in one child process, the artifact it is asked about
    with those of the other `folders` not recorded in `cache_dirs`."""
    verdicts: dict[str, str | None] = {}

    def verify(folder: Path) -> str | None:
        if str(folder) not in verdicts:
            others = [
                f for f in folders if f != folder and str(f) not in verdicts and _unrecorded(f, cache_dirs)
            ]
            verdicts.update(verify_in_child([folder, *others], cache_dirs))
        return verdicts[str(folder)]

    return verify


def load_model(
    folder: Path,
    cache: dict[str, tuple[tuple, StoredVersion]] | None = None,
    last_good: Routing | None = None,
    cache_dirs: list[Path] | None = None,
    isolated: bool = False,
    verify: Verify | None = None,
) -> StoredModel:
    """Load every version folder of a model; `cache` (version → (files signature, loaded version))
    lets unchanged versions be reused instead of loaded again, and is updated in place. A routing.json
    that cannot be used is reported in `routing_error`; `last_good` (the routing served so far) is
    kept then, while its versions are still loaded. `cache_dirs`: where derived forms of skops
    artifacts are looked up (the first is written). `isolated`: artifacts not recorded there are
    deserialized in a child process (one for the model's versions, unless `verify` is given: one
    shared with other models), not in this one."""
    cache = {} if cache is None else cache
    cache_dirs = list(cache_dirs or [])
    versions, failures = {}, {}
    children = sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))),
        key=lambda p: version_key(p.name),
    )
    for stale in set(cache) - {child.name for child in children}:
        del cache[stale]
    loading: list[tuple[Path, tuple]] = []
    for child in children:
        try:
            signature = _files_signature(child)
            if child.name in cache and cache[child.name][0] == signature:
                versions[child.name] = cache[child.name][1]
            else:
                loading.append((child, signature))
        except OSError as exc:
            log.error("model %s version %s skipped: %s", folder.name, child.name, exc)
            failures[child.name] = str(exc)
    if isolated and verify is None:
        verify = _child_verifier([child for child, _ in loading], cache_dirs)
    for child, signature in loading:
        try:
            versions[child.name] = load_version(child, cache_dirs, verify)
            cache[child.name] = (signature, versions[child.name])
        except (ArtifactError, OSError) as exc:
            log.error("model %s version %s skipped: %s", folder.name, child.name, exc)
            failures[child.name] = str(exc)
    versions = {name: versions[name] for name in sorted(versions, key=version_key)}
    try:
        routing, routing_error = _read_routing(folder, versions), None
    except ArtifactError as exc:
        if last_good is not None and _still_valid(last_good, versions):
            log.error("model %s: %s; keeping the last good routing", folder.name, exc)
            routing, routing_error = last_good, f"{exc}; the last good routing is kept"
        else:
            log.error("model %s: %s; serving the latest version without a split", folder.name, exc)
            routing, routing_error = Routing(), f"{exc}; serving the latest version without a split"
    return StoredModel(folder.name, versions, failures, routing, routing_error)


def _signature(folder: Path) -> tuple:
    """Cheap change detector: mtimes of the model folder, its version folders and their files."""
    entries = []
    with os.scandir(folder) as it:
        for entry in it:
            entries.append((entry.name, entry.stat().st_mtime_ns))
            if entry.is_dir():
                with os.scandir(entry.path) as inner:
                    entries.extend((f"{entry.name}/{e.name}", e.stat().st_mtime_ns) for e in inner)
    return (folder.stat().st_mtime_ns, tuple(sorted(entries)))


class ModelStore:
    """Every model of the store, reloaded per model when its folder changes (checked at most every
    `RECHECK_SECONDS`) or on request; readers always see a complete `StoredModel`."""

    def __init__(self, root: Path, cache_dirs: list[Path] | None = None, isolated: bool = False) -> None:
        self.root = Path(root)
        self.cache_dirs = list(cache_dirs or [])
        self.isolated = isolated
        self._models: dict[str, StoredModel] = {}
        self._signatures: dict[str, tuple] = {}
        self._checked: dict[str, float] = {}
        self._loaded: dict[str, dict] = {}
        self._lock = threading.Lock()

    def model_names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))

    def load_all(self) -> "ModelStore":
        """Load every model; an isolated store verifies the new artifacts of all of them in one child
        process."""
        names = self.model_names()
        verify = None
        if self.isolated:
            folders = [
                version
                for name in names
                for version in (self.root / name).iterdir()
                if version.is_dir() and not version.name.startswith((".", "_"))
            ]
            verify = _child_verifier(folders, self.cache_dirs)
        for name in names:
            self.reload(name, verify)
        return self

    def get(self, name: str) -> StoredModel | None:
        return self._models.get(name)

    def reload(self, name: str, verify: Verify | None = None) -> StoredModel | None:
        """Load `name` from disk again (an absent folder forgets the model); `verify` as in
        `load_model`."""
        folder = self.root / name
        with self._lock:
            if not folder.is_dir():
                self._models.pop(name, None)
                self._signatures.pop(name, None)
                self._loaded.pop(name, None)
                return None
            signature = _signature(folder)
            previous = self._models.get(name)
            model = load_model(
                folder,
                self._loaded.setdefault(name, {}),
                previous.routing if previous is not None else None,
                self.cache_dirs,
                self.isolated,
                verify,
            )
            self._models[name], self._signatures[name] = model, signature
            self._checked[name] = time.monotonic()
            return model

    def is_stale(self, name: str) -> bool:
        """True when the folder of `name` changed since it was loaded; stats the disk at most
        every `RECHECK_SECONDS` per model, so it is cheap enough for every request."""
        now = time.monotonic()
        if now - self._checked.get(name, 0.0) < RECHECK_SECONDS:
            return False
        self._checked[name] = now
        folder = self.root / name
        try:
            return _signature(folder) != self._signatures.get(name)
        except OSError:
            return name in self._models


def load_model_store(root: Path, cache_dirs: list[Path] | None = None, isolated: bool = False) -> ModelStore:
    """Load every model under `root`; `cache_dirs` and `isolated` as in `load_model` (DATA_CACHE_DIR,
    then the image's bundled cache folder; the API process's store is isolated)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"model store folder (MODEL_STORE_PATH) {root.name!r} does not exist")
    return ModelStore(root, cache_dirs, isolated).load_all()
