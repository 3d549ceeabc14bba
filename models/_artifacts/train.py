"""Train the example models on the data shipped in `model_store/_data/` and register each as a new
version of the store (a folder `<model>/<n+1>/`; the service picks it up without a restart).

    python -m models._artifacts.train all                       # every example and variant
    python -m models._artifacts.train sentiment --variant char  # one variant
    python -m models._artifacts.train flight_delay --store /mnt/models --make-default
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.settings import DEFAULT_MODEL_STORE_PATH
from models._artifacts import drift
from models._artifacts.examples import flight_delay, sentiment
from models._artifacts.register import register
from models._artifacts.spec import ModelSpec

DATA = {"sentiment": "sentiment-labelled-sentences", "flight_delay": "nycflights13"}
SEED = 2015


@dataclass
class Trained:
    spec: ModelSpec
    artifact: Any
    format: str
    pipeline: str
    metrics: dict
    data_files: list[Path]
    rows: int
    reference: dict


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray) -> dict:
    from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, log_loss, roc_auc_score

    predicted = (probabilities >= 0.5).astype(int)
    majority = max(y_true.mean(), 1 - y_true.mean())
    return {
        "rows": int(y_true.size),
        "roc_auc": round(float(roc_auc_score(y_true, probabilities)), 4),
        "accuracy": round(float(accuracy_score(y_true, predicted)), 4),
        "majority_class_accuracy": round(float(majority), 4),
        "f1": round(float(f1_score(y_true, predicted)), 4),
        "log_loss": round(float(log_loss(y_true, probabilities)), 4),
        "brier": round(float(brier_score_loss(y_true, probabilities)), 4),
    }


def train_sentiment(variant: str, data_dir: Path) -> Trained:
    from sklearn.model_selection import train_test_split

    frame = sentiment.load_frame(data_dir)
    train, test = train_test_split(
        frame, test_size=0.2, random_state=SEED, stratify=frame["label"].astype(str) + frame["source"]
    )
    pipeline = sentiment.build_pipeline(variant).fit(train["text"].tolist(), train["label"].to_numpy())
    metrics = classification_metrics(
        test["label"].to_numpy(), pipeline.predict_proba(test["text"].tolist())[:, 1]
    )
    return Trained(
        sentiment.SPEC,
        pipeline,
        "skops",
        sentiment.VARIANTS[variant],
        {"held_out": metrics, "split": "stratified random 20 % (label × source), seed 2015"},
        [data_dir / "sentiment.csv"],
        len(train),
        drift.text_reference(train["text"].tolist()),
    )


def train_flight_delay(variant: str, data_dir: Path) -> Trained:
    import pandas as pd
    from threadpoolctl import threadpool_limits

    frame = flight_delay.load_frame(data_dir)
    held_out = frame["day"] >= flight_delay.HELD_OUT_FROM_DAY
    columns = flight_delay.columns(frame[~held_out])
    pipeline = flight_delay.build_pipeline(variant)
    with threadpool_limits(1):
        pipeline.fit(pd.DataFrame(columns), frame.loc[~held_out, "delayed"].to_numpy())
        probabilities = pipeline.predict_proba(pd.DataFrame(flight_delay.columns(frame[held_out])))[:, 1]
    metrics = classification_metrics(frame.loc[held_out, "delayed"].to_numpy(), probabilities)
    artifact, fmt = pipeline, "skops"
    if variant == "forest":
        artifact, fmt = flight_delay.to_onnx(pipeline), "onnx"
    kinds = {f.name: f.kind for f in flight_delay.FEATURES}
    return Trained(
        flight_delay.SPEC,
        artifact,
        fmt,
        flight_delay.VARIANTS[variant],
        {
            "held_out": metrics,
            "split": f"by date: every flight on days ≥ "
            f"{flight_delay.HELD_OUT_FROM_DAY} of each month is held out (whole days, "
            "so same-day weather and congestion never leak from training)",
        },
        [data_dir / "flights_sample.csv", data_dir / "weather.csv"],
        int((~held_out).sum()),
        drift.tabular_reference(columns, kinds),
    )


TRAINERS = {
    "sentiment": (train_sentiment, list(sentiment.VARIANTS)),
    "flight_delay": (train_flight_delay, list(flight_delay.VARIANTS)),
}


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
        help="folder holding the example datasets",
    )
    parser.add_argument(
        "--make-default", action="store_true", help="make the new version the default in routing.json"
    )
    args = parser.parse_args(argv)
    names = list(TRAINERS) if args.model == "all" else [args.model]
    for name in names:
        trainer, variants = TRAINERS[name]
        if args.variant and args.variant not in variants:
            parser.error(f"{name} has variants {', '.join(variants)}; got {args.variant!r}")
        for variant in [args.variant] if args.variant else variants:
            trained = trainer(variant, args.data / DATA[name])
            version = register(args.store, trained, make_default=args.make_default)
            held_out = trained.metrics["held_out"]
            print(
                f"{name}/{version}: {variant} ({trained.format}) held-out ROC AUC "
                f"{held_out['roc_auc']}, accuracy {held_out['accuracy']} on {held_out['rows']} rows"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
