"""Train the artifact models on the data shipped in `model_store/_data/` and register each as a new
version of the store (a folder `<model>/<n+1>/`; the service picks it up without a restart).

    python -m models._artifacts.train all                       # every model and variant
    python -m models._artifacts.train sentiment --variant char  # one variant
    python -m models._artifacts.train flight_delay --store /mnt/models --make-default

Each model's procedure is its package's `training.py` (`DATA_FOLDER`, `VARIANTS`, `train`).
"""

import argparse
import sys
from pathlib import Path

from common.settings import DEFAULT_MODEL_STORE_PATH
from models._artifacts.register import register
from models.flight_delay import training as flight_delay
from models.sentiment import training as sentiment

TRAINERS = {"sentiment": sentiment, "flight_delay": flight_delay}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", choices=[*TRAINERS, "all"])
    parser.add_argument("--variant", help="one variant of the model (default: every variant)")
    parser.add_argument(
        "--store",
        type=Path,
        default=DEFAULT_MODEL_STORE_PATH,
        help="model store folder (default: the repo's model_store)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_MODEL_STORE_PATH / "_data",
        help="folder holding the models' training datasets",
    )
    parser.add_argument(
        "--make-default", action="store_true", help="make the new version the default in routing.json"
    )
    args = parser.parse_args(argv)
    names = list(TRAINERS) if args.model == "all" else [args.model]
    for name in names:
        training = TRAINERS[name]
        variants = list(training.VARIANTS)
        if args.variant and args.variant not in variants:
            parser.error(f"{name} has variants {', '.join(variants)}; got {args.variant!r}")
        for variant in [args.variant] if args.variant else variants:
            trained = training.train(variant, args.data / training.DATA_FOLDER)
            version = register(args.store, trained, make_default=args.make_default)
            held_out = trained.metrics["held_out"]
            print(
                f"{name}/{version}: {variant} ({trained.format}) held-out ROC AUC "
                f"{held_out['roc_auc']}, accuracy {held_out['accuracy']} on {held_out['rows']} rows"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
