"""Builders shared by the trained-artifact tests: store copies, apps on them, request bodies."""

import contextlib
import json
import shutil
from pathlib import Path

import numpy as np

from common.settings import DEFAULT_MODEL_STORE_PATH
from helpers.app import running_app
from models.flight_delay.spec import EXAMPLE as FLIGHT
from models.flight_delay.spec import SPEC as FLIGHTS

ARTIFACT_MODELS = ("sentiment", "flight_delay", "kserve_v2")


def copy_store(target: Path, versions: dict[str, list[str]], routing: dict | None = None) -> Path:
    """A store holding copies of the shipped versions named per model (no routing.json unless given)."""
    for model, names in versions.items():
        for name in names:
            shutil.copytree(DEFAULT_MODEL_STORE_PATH / model / name, target / model / name)
        if routing and model in routing:
            write_routing(target / model, routing[model])
    return target


def write_routing(model_dir: Path, routing: dict) -> None:
    (model_dir / "routing.json").write_text(json.dumps(routing), encoding="utf-8")


@contextlib.contextmanager
def artifact_app(store: Path = DEFAULT_MODEL_STORE_PATH, models=ARTIFACT_MODELS):
    with running_app(model_service=models, model_store_path=store) as client:
        yield client


def texts(*items: str, version: str | None = None) -> dict:
    return {"instances": list(items), **({"version": version} if version else {})}


def flights(*instances, version: str | None = None) -> dict:
    return {"instances": list(instances or [FLIGHT]), **({"version": version} if version else {})}


def flight(**changes) -> dict:
    return {**FLIGHT, **changes}


def v2_text(*items: str, **extra) -> dict:
    return {
        "inputs": [{"name": "text", "shape": [len(items)], "datatype": "BYTES", "data": list(items)}],
        **extra,
    }


def v2_flight(instance: dict | None = None) -> dict:
    instance = instance or FLIGHT
    inputs = []
    for name, value in instance.items():
        is_text = isinstance(value, str)
        inputs.append(
            {
                "name": name,
                "shape": [1, 1],
                "datatype": "BYTES" if is_text else "FP64",
                "data": [[value if value is not None else 0.0]],
            }
        )
    return {"inputs": inputs}


def flight_columns(instances: list[dict]) -> dict[str, np.ndarray]:
    """flight_delay instances as the pipelines and ONNX sessions take them: one array per feature
    (numbers as float64 with NaN for a missing value, the rest as objects)."""
    return {
        f.name: np.array(
            [np.nan if row[f.name] is None else row[f.name] for row in instances],
            dtype=np.float64 if f.kind == "number" else object,
        )
        for f in FLIGHTS.features
    }
