"""Integrity of a dataset folder's CSV files: rows with the wrong number of fields, and an optional
`manifest.json` beside the data recording each file's row count and sha256 (of the file as stored,
`.csv.gz` or `.csv`).

    python -m shared_dataloader.manifest DIR     # check DIR's CSV files, then write DIR/manifest.json

With a manifest, a file whose sha256 matches is known complete; without one, every row's field count
is checked (a plain CSV cut mid-row ends with a short row).
"""

import argparse
import csv
import gzip
import hashlib
import io
import json
import sys
from pathlib import Path

from shared_dataloader.errors import DatasetError

MANIFEST_FILE = "manifest.json"
CSV_SUFFIXES = (".csv", ".csv.gz")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def count_rows(path: Path) -> int:
    """Data rows of a CSV file (blank lines ignored); `DatasetError` at the first row whose number of
    fields differs from the header's, or when the file cannot be read to its end."""
    try:
        with _text(path) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise DatasetError(f"{path.name}: the file is empty")
            rows = 0
            for row in reader:
                if not row:
                    continue
                rows += 1
                if len(row) != len(header):
                    raise DatasetError(
                        f"{path.name}: line {reader.line_num} has {len(row)} fields but the header has "
                        f"{len(header)}; the file is damaged or cut short"
                    )
            return rows
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path.name}: cannot be read to its end ({exc})") from exc


def read_manifest(folder: Path) -> dict[str, dict] | None:
    """The manifest's `files` entries ({name: {rows, sha256}}), or None when the folder has none."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
        if not all(
            isinstance(e, dict) and isinstance(e.get("sha256"), str) and isinstance(e.get("rows"), int)
            for e in files.values()
        ):
            raise ValueError("every file needs rows and sha256")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DatasetError(
            f"{MANIFEST_FILE}: not a valid manifest ({exc}); write it again with "
            "`python -m shared_dataloader.manifest DIR`"
        ) from exc
    return files


def verify(folder: Path, paths: list[Path]) -> None:
    """Check the CSV files the loader is about to read: against the manifest when there is one,
    else row by row. `DatasetError` names the file and what is wrong."""
    manifest = read_manifest(folder)
    for path in paths:
        if manifest is None:
            count_rows(path)
            continue
        entry = manifest.get(path.name)
        if entry is None:
            raise DatasetError(
                f"{path.name}: not listed in {MANIFEST_FILE} (it lists "
                f"{', '.join(sorted(manifest)) or 'nothing'}); write the manifest again "
                "with `python -m shared_dataloader.manifest DIR`"
            )
        if sha256_of(path) != entry["sha256"]:
            try:
                found = f"it has {count_rows(path)} rows"
            except DatasetError as exc:
                found = str(exc).removeprefix(f"{path.name}: ")
            raise DatasetError(
                f"{path.name}: does not match {MANIFEST_FILE} (sha256 differs; the manifest "
                f"records {entry['rows']} rows, {found})"
            )


def build(folder: Path) -> dict:
    """The manifest of a folder's CSV files, after checking every row of each."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and p.name.endswith(CSV_SUFFIXES))
    return {"files": {p.name: {"rows": count_rows(p), "sha256": sha256_of(p)} for p in files}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared_dataloader.manifest",
        description="Check a dataset folder's CSV files and write its manifest.",
    )
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    try:
        manifest = build(args.folder)
    except (DatasetError, OSError) as exc:
        print(f"not written: {exc}", file=sys.stderr)
        return 1
    target = args.folder / MANIFEST_FILE
    target.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for name, entry in manifest["files"].items():
        print(f"{name}: {entry['rows']} rows, sha256 {entry['sha256'][:12]}…")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
