"""How the flight-delay model is trained (`python -m models._artifacts.train flight_delay`).

Held out **by date** (days ≥ HELD_OUT_FROM_DAY of each month), so same-day weather and congestion
never leak from training into the test rows.
"""

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from models._artifacts import drift
from models._artifacts.training import Trained, classification_metrics
from models.flight_delay.spec import FEATURES, SPEC

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

DATA_FOLDER = "nycflights13"
"""The training data's folder under the store's `_data/`."""
CATEGORIES = ("carrier", "origin", "dest")


def _hours(hhmm: pd.Series) -> pd.Series:
    return (hhmm // 100) + (hhmm % 100) / 60


def load_frame(data_dir: Path) -> pd.DataFrame:
    """Flights with a known arrival delay, joined with the origin's weather in the scheduled hour."""
    flights = pd.read_csv(data_dir / "flights_sample.csv")
    weather = pd.read_csv(data_dir / "weather.csv").drop(columns=["year", "month", "day", "hour"])
    weather = weather.drop_duplicates(["origin", "time_hour"])
    frame = flights.dropna(subset=["arr_delay"]).merge(weather, on=["origin", "time_hour"], how="left")
    frame["weekday"] = pd.to_datetime(frame[["year", "month", "day"]]).dt.weekday
    frame["sched_dep_hour"] = _hours(frame["sched_dep_time"])
    frame["sched_arr_hour"] = _hours(frame["sched_arr_time"])
    frame["delayed"] = (frame["arr_delay"] >= 15).astype(int)
    return frame.sort_values(["month", "day", "sched_dep_time"], kind="stable").reset_index(drop=True)


def columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The model inputs in serving form (float64 numbers, object categories)."""
    return {
        f.name: (
            frame[f.name].to_numpy(dtype=np.float64)
            if f.kind == "number"
            else frame[f.name].astype(object).to_numpy()
        )
        for f in FEATURES
    }


HELD_OUT_FROM_DAY = 22
VARIANTS = {
    "boosting": "one-hot carrier/origin/dest + histogram gradient boosting (150 trees, native "
    "missing values); scikit-learn pipeline saved with skops",
    "forest": "one-hot carrier/origin/dest + median-imputed numbers + random forest (40 trees, "
    "≥ 40 flights per leaf); converted to ONNX with skl2onnx",
}


def build_pipeline(variant: str) -> "Pipeline":
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    numbers = [f.name for f in FEATURES if f.kind == "number"]
    one_hot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    if variant == "boosting":
        encode = ColumnTransformer(
            [("categories", one_hot, list(CATEGORIES)), ("numbers", "passthrough", numbers)]
        )
        model = HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.08,
            max_leaf_nodes=31,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=0,
        )
    else:
        encode = ColumnTransformer(
            [
                ("categories", one_hot, list(CATEGORIES)),
                ("numbers", SimpleImputer(strategy="median"), numbers),
            ]
        )
        model = RandomForestClassifier(
            n_estimators=40, min_samples_leaf=40, max_features=0.3, random_state=0, n_jobs=1
        )
    return Pipeline([("encode", encode), ("model", model)])


def to_onnx(pipeline: "Pipeline") -> bytes:
    """The fitted pipeline as ONNX: one [n, 1] input tensor per feature, `probabilities` output."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types = [
        (f.name, FloatTensorType([None, 1]) if f.kind == "number" else StringTensorType([None, 1]))
        for f in FEATURES
    ]
    graph = convert_sklearn(pipeline, initial_types=types, options={id(pipeline): {"zipmap": False}})
    serialized: bytes = graph.SerializeToString()
    return serialized


def train(variant: str, data_dir: Path) -> Trained:
    from threadpoolctl import threadpool_limits

    frame = load_frame(data_dir)
    held_out = frame["day"] >= HELD_OUT_FROM_DAY
    training_columns = columns(frame[~held_out])
    pipeline = build_pipeline(variant)
    with threadpool_limits(1):
        pipeline.fit(pd.DataFrame(training_columns), frame.loc[~held_out, "delayed"].to_numpy())
        probabilities = pipeline.predict_proba(pd.DataFrame(columns(frame[held_out])))[:, 1]
    metrics = classification_metrics(frame.loc[held_out, "delayed"].to_numpy(), probabilities)
    artifact, fmt = pipeline, "skops"
    if variant == "forest":
        artifact, fmt = to_onnx(pipeline), "onnx"
    kinds: dict[str, str] = {f.name: f.kind for f in FEATURES}
    return Trained(
        SPEC,
        artifact,
        fmt,
        VARIANTS[variant],
        {
            "held_out": metrics,
            "split": f"by date: every flight on days ≥ {HELD_OUT_FROM_DAY} of each month is held out "
            "(whole days, so same-day weather and congestion never leak from training)",
        },
        [data_dir / "flights_sample.csv", data_dir / "weather.csv"],
        int((~held_out).sum()),
        drift.tabular_reference(training_columns, kinds),
    )
