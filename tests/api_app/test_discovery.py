"""Model discovery: every package with a router is mounted; broken ones are reported and isolated."""

import os
import textwrap

import pytest

from api_app.discovery import discover
from helpers.app import models_package, running_app, wait_started

MODELS_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "models")


@pytest.fixture
def fake_models(tmp_path, monkeypatch):
    """A models package with the real sample model, a package that fails to import, one without a
    router and one that names its resources wrongly."""
    name = models_package(
        tmp_path,
        monkeypatch,
        "fake_models",
        {
            "broken": "raise RuntimeError('model weights are corrupt')\n",
            "norouter": "ROUTER = None\n",
            "badresources": "from fastapi import APIRouter\nrouter = APIRouter(prefix='/bad')\n"
            "REQUIRED_RESOURCES = 'indicators'\n",
        },
    )
    (tmp_path / name / "sampleapi").symlink_to(os.path.abspath(os.path.join(MODELS_DIR, "sampleapi")))
    return name


def test_every_real_model_package_is_discovered():
    found = discover()
    names = {p.name for p in found.packages}
    expected = {
        entry.name
        for entry in os.scandir(MODELS_DIR)
        if entry.is_dir()
        and not entry.name.startswith("_")
        and os.path.exists(os.path.join(entry.path, "__init__.py"))
    }
    assert names == expected
    assert all(p.router is not None for p in found.packages), [p.error for p in found.packages]


def test_discovery_does_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "sampleapi" in {p.name for p in discover().mounted}


def test_broken_packages_are_reported_and_the_rest_serve(fake_models):
    with running_app(models_package=fake_models) as client:
        root = client.get("/").json()
        assert root["models"] == ["sampleapi"]
        assert "model weights are corrupt" in root["unavailable_models"]["broken"]
        assert "router" in root["unavailable_models"]["norouter"]
        assert root["unavailable_models"]["badresources"].startswith(
            "ContractError: fake_models/badresources/__init__.py: REQUIRED_RESOURCES must be a tuple"
        )

        ready = client.get("/health/ready")
        assert ready.status_code == 503
        report = ready.json()
        assert report["models"]["sampleapi"] == {"state": "ready"}
        assert report["models"]["broken"]["state"] == "failed"
        assert "RuntimeError: model weights are corrupt" in report["models"]["broken"]["error"]

        served = client.post("/sampleapi/predict", json={"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2015"})
        assert served.status_code == 200
        assert served.json()["year"] == "2015"
        assert client.post("/broken/predict", json={}).status_code == 404


def test_model_service_mounts_only_the_selected_models(fake_models):
    with running_app(models_package=fake_models, model_service=("sampleapi",)) as client:
        assert client.get("/").json()["models"] == ["sampleapi"]
        assert client.get("/health/ready").status_code == 200
        assert [entry["model"] for entry in client.get("/params").json()] == ["sampleapi"]
        paths = client.get("/openapi.json").json()["paths"]
        assert all(not p.startswith("/broken") for p in paths)


def test_model_service_naming_an_unknown_model_is_reported():
    with running_app(model_service=("sampleapi", "nosuchmodel")) as client:
        report = client.get("/health/ready")
        assert report.status_code == 503
        error = report.json()["models"]["nosuchmodel"]["error"]
        assert "no model package named 'nosuchmodel'" in error and "sampleapi" in error


def test_model_service_loads_only_the_data_its_models_need():
    with running_app(model_service=("sampleapi",)) as client:
        assert set(client.get("/health/ready").json()["data"]) == {"indicators"}


WARMED_MODEL = textwrap.dedent("""
    import threading
    from fastapi import APIRouter
    REQUIRED_RESOURCES = ("indicators",)
    router = APIRouter(prefix="/warmed", tags=["Warmed"])
    calls = []
    release = threading.Event()

    def WARMUP(resources):
        calls.append(sorted(resources))
        release.wait(60)
""")


def test_warm_up_runs_once_with_the_loaded_data_after_ready(tmp_path, monkeypatch):
    package = models_package(
        tmp_path,
        monkeypatch,
        "warm_models",
        {
            "warmed": WARMED_MODEL,
            "failing": "from fastapi import APIRouter\nrouter = APIRouter(prefix='/failing')\n"
            "def WARMUP(resources):\n    raise RuntimeError('cache build failed')\n",
        },
    )
    with running_app(models_package=package, started=False) as client:
        import warm_models.warmed

        report = client.get("/health/ready")  # ready while the warm-up still runs
        assert report.status_code == 200
        assert report.json()["models"] == {"failing": {"state": "ready"}, "warmed": {"state": "ready"}}
        assert not client.app.state.loading.done()
        warm_models.warmed.release.set()
        wait_started(client, timeout=30)
        assert client.get("/health/ready").status_code == 200
    assert warm_models.warmed.calls == [["indicators"]]


ORDERED_MODEL = textwrap.dedent("""
    import asyncio, json, os
    from fastapi import APIRouter
    from common.calls import Call
    from common.compute import installed_processes
    router = APIRouter(prefix="/ordered", tags=["Ordered"])
    warmed_in = []
    seen = []

    def COMPUTE_WARMUP(resources):
        warmed_in.append(os.getpid())

    def report(body, data):
        return warmed_in

    def WARMUP(resources):
        seen.append(json.loads(asyncio.run(installed_processes().run(Call.of(report, None), 60))))
""")


def test_the_compute_warm_ups_run_before_the_warm_ups_that_hand_work_to_compute_processes(
    tmp_path, monkeypatch
):
    """A WARMUP that asks a compute process for something (an artifact model checking a pipeline)
    reaches one forked after the COMPUTE_WARMUPs, which holds what they loaded."""
    package = models_package(tmp_path, monkeypatch, "ordered_models", {"ordered": ORDERED_MODEL})
    with running_app(models_package=package):
        import ordered_models.ordered

        assert ordered_models.ordered.warmed_in == [], "the compute warm-up ran in the zygote, not here"
        (answer,) = ordered_models.ordered.seen
        assert len(answer) == 1 and answer[0] != os.getpid()
