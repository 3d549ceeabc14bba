"""`python -m models._artifacts.verify --cache=DIR [--cache=DIR ...] FOLDER ...`: deserialize the
artifacts of model-store version folders in this process, writing their entries (derived forms, linear
forms, ONNX checks) into the first cache folder, for an API process that loads neither scikit-learn nor
skops (`store.verify_in_child`). Prints one JSON object: folder → null (its artifact deserialized) or
the reason it cannot be served."""

import argparse
import json
import logging
import sys
from pathlib import Path

from models._artifacts.store import ArtifactError, load_version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m models._artifacts.verify", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--cache", type=Path, action="append", default=[], help="cache folder (the first is written)"
    )
    parser.add_argument("folders", nargs="+", type=Path, help="version folders of the model store")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    verdicts: dict[str, str | None] = {}
    for folder in args.folders:
        try:
            load_version(folder, args.cache)
            verdicts[str(folder)] = None
        except (ArtifactError, OSError) as exc:
            verdicts[str(folder)] = str(exc)
    print(json.dumps(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
