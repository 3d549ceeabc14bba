"""bench/estimate_replay.py: a recorded sequence goes through the estimator in the order it was served,
so a replayed estimate sees only the runs recorded before it was asked for."""

import dataclasses
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from common.machine_speed import HOST
from helpers.estimates import SIMPLE
from models.twolvlImp.estimate import RunHistory

FEATURES = dataclasses.replace(SIMPLE, estimators=200)


def _replay_module() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "estimate_replay.py"
    spec = importlib.util.spec_from_file_location("estimate_replay", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _line(**entry) -> str:
    return json.dumps(entry) + "\n"


def test_each_request_is_estimated_from_the_runs_before_it(tmp_path, monkeypatch):
    monkeypatch.setattr(HOST, "unit_seconds", None)  # the replay sets the recorded unit
    features = dataclasses.asdict(FEATURES)
    run = {"seconds": 1.2, "stages": {"train": 1.2}, "fresh": False, "pid": 7, "cpu": {"train": 1.0}}
    recorded = tmp_path / "sequence.jsonl"
    recorded.write_text(
        _line(estimate={"seconds": 9.0, "fresh_process": False, "unit": 2.0}, features=features)  # a poll
        + _line(estimate={"seconds": 0.5, "fresh_process": False, "unit": 2.0}, features=features)
        + _line(run=run, features=features)
        + _line(actual=1.25, request="first")
        + _line(estimate={"seconds": 0.9, "fresh_process": False, "unit": 2.0}, features=features)
        + _line(run=run, features=features)
        + _line(actual=1.3, request="second")
    )
    pairs = _replay_module().replay(str(recorded))

    HOST.unit_seconds = 2.0
    history = RunHistory()
    first = history.estimate(FEATURES).seconds
    history.record(FEATURES, 1.2, {"train": 1.2}, False, 7, {"train": 1.0})
    second = history.estimate(FEATURES).seconds
    assert first != second, "the first run changed the estimate"
    assert pairs == [
        (pytest.approx(first / 1.25), pytest.approx(0.5 / 1.25)),
        (pytest.approx(second / 1.3), pytest.approx(0.9 / 1.3)),
    ]
