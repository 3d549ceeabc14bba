"""The host's machine unit: the fixed forest of bench/calibrate.py, measured in the background
after startup without delaying readiness."""

from common.machine_speed import HOST, HostSpeed, fixed_workload, machine_unit
from helpers.app import running_app
from models.twolvlImp.schemas import SIMPLE_EXAMPLE


def test_the_unit_scales_a_smaller_workload_to_100_trees(monkeypatch):
    timings = iter([0.5, 0.3, 0.4])
    monkeypatch.setattr("common.machine_speed.fixed_workload", lambda trees: next(timings))
    assert machine_unit(trees=20, runs=3) == 0.4 * 5


def test_the_fixed_workload_fits_a_forest():
    assert fixed_workload(trees=2) > 0


def test_a_probe_runs_once_in_the_background(monkeypatch):
    monkeypatch.setattr("common.machine_speed.PROBE_TREES", 2)
    monkeypatch.setattr("common.machine_speed.PROBE_RUNS", 1)
    speed = HostSpeed()
    speed.measure_in_background()
    speed.measure_in_background()
    assert speed.wait(timeout=120) > 0


def test_the_app_measures_the_host_after_it_is_ready_and_estimates_report_it(monkeypatch):
    monkeypatch.setattr("common.machine_speed.PROBE_TREES", 2)
    monkeypatch.setattr("common.machine_speed.PROBE_RUNS", 1)
    with running_app(model_service=("twolvlImp",), machine_speed_probe=True) as client:
        assert client.get("/health/ready").status_code == 200
        unit = HOST.wait(timeout=120)
        assert unit and unit > 0
        assert client.post("/twolvlImp/estimate", json=SIMPLE_EXAMPLE).json()["machine_unit"] == unit
