"""Cold start: importing and building the app loads no model library; the models' warm-ups load them
after readiness, in the background, where the compute processes are forked from (the zygote), never
in the API process of the analytic models; importing the metrics module changes nothing in the
process (issues 14 and 18)."""

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common.settings import REPO_ROOT
from helpers.probe import run_probe

MODEL_LIBRARIES = (
    "sklearn",
    "scipy",
    "kmodes",
    "skops",
    "onnx",
    "onnxruntime",
    "statsmodels",
    "threadpoolctl",
    "joblib",
)
ANALYTIC_MODELS = "twolvlImp,CountryCorrelation,Statimpute,SurveyCluster,sampleapi"
EVERY_MODEL = f"{ANALYTIC_MODELS},flight_delay,sentiment,kserve_v2"
WARMED_MODULES = (
    "sklearn.cluster",
    "sklearn.model_selection",
    "kmodes.kprototypes",
    "sklearn.impute",
    "sklearn.ensemble",
    "scipy.interpolate",
    "joblib",
)
"""What the compute warm-ups import: the analytic models' libraries and twolvlImp's (imputers, forests,
curves)."""

PROBE = """
import asyncio, json, sys
sys.path.insert(0, "tests")
from helpers.app import make_settings, wait_ready, wait_started

from helpers.modules import imported

ASKED = {"libraries": json.loads(sys.argv[1]), "modules": json.loads(sys.argv[3])}

def loaded():
    return imported(ASKED)["libraries"]

import api_app, api_app.factory
from common.calls import Call
report = {"import": loaded(), "models_imported": sorted(m for m in sys.modules if m.startswith("models."))}
from fastapi.testclient import TestClient
from common.machine_speed import HOST
settings = make_settings(model_service=tuple(sys.argv[2].split(",")), machine_speed_probe=True)
app = api_app.factory.create_app(settings)
report["create_app"] = loaded()
with TestClient(app) as client:
    report["ready"] = wait_ready(client)["status"]
    wait_started(client)  # the warm-ups, after readiness
    report["after_warm_ups"] = loaded()
    report["modules"] = imported(ASKED)["modules"]
    answer = asyncio.run(app.state.processes.run(Call.of(imported, ASKED), timeout=60))
    report["compute_process"] = json.loads(answer)
    report["requests"] = {}
    for path, body in json.loads(open(sys.argv[4]).read()):
        response = client.post(path, json=body) if body is not None else client.get(path)
        report["requests"][path] = response.status_code
    report["machine_unit"] = HOST.wait(timeout=300)
    report["after_requests"] = loaded()
print(json.dumps(report))
"""
SURVEY = REPO_ROOT / "shared_dataloader" / "data" / "sids" / "survey"
SELECTION = {"dataset": "wdi", "category": "Financial Sector", "year": "2014"}
IMPUTE = {"target": "wdi-EG.ELC.ACCS.ZS", "country": "CUB", "method": "linear"}


def analytic_requests() -> list[tuple[str, dict | None]]:
    """One request to each endpoint of the analytic models that computes (GET: None)."""
    from models.twolvlImp.schemas import SIMPLE_EXAMPLE

    metadata = json.loads((SURVEY / "metadata.json").read_text())
    factor = sorted({row["Factor"] for row in metadata if row.get("Factor")})[0]
    survey = {"data": json.loads((SURVEY / "data.json").read_text()), "metadata": metadata, "factor": factor}
    simple = {**SIMPLE_EXAMPLE, "history": False}
    return [
        ("/twolvlImp/target_years", None),
        (
            "/twolvlImp/predictors",
            {key: simple[key] for key in ("target_year", "dataset", "target", "scheme")},
        ),
        ("/twolvlImp/estimate", simple),
        ("/twolvlImp/predict", simple),
        ("/correlation/correlate", {**SELECTION, "country": "SGP"}),
        ("/correlation/cluster", {**SELECTION, "k": 4}),
        ("/statimpute/impute", IMPUTE),
        ("/statimpute/backtest", {**IMPUTE, "folds": 3}),
        ("/survey/clustering", {**survey, "max_k": 4}),
        ("/sampleapi/predict", {"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2015"}),
    ]


def _probe(tmp_path, models: str, requests: list) -> dict:
    bodies = tmp_path / "requests.json"
    bodies.write_text(json.dumps(requests))
    args = [json.dumps(MODEL_LIBRARIES), models, json.dumps(WARMED_MODULES), str(bodies)]
    report: dict = run_probe(
        PROBE, args, {"STATE_DIR": str(tmp_path), "DATA_CACHE_DIR": str(tmp_path / "cache")}
    )
    return report


def test_building_the_app_loads_no_model_library_the_warm_ups_load_them(tmp_path):
    report = _probe(tmp_path, EVERY_MODEL, [])
    assert report["import"] == []
    assert report["models_imported"] == []  # importing the app imports no model package at all
    assert report["create_app"] == []
    assert report["ready"] == "ready"
    # after readiness, the warm-ups imported what the models compute with where compute processes
    # are forked from: a compute process has it all without importing anything
    assert report["compute_process"]["modules"] == list(WARMED_MODULES)
    libraries = {"sklearn", "scipy", "kmodes", "joblib", "threadpoolctl"}
    assert libraries <= set(report["compute_process"]["libraries"])
    # the API process holds none of them, nor onnxruntime, skops or onnx (compute processes score
    # the artifact models' pipelines and ONNX models)
    assert report["after_warm_ups"] == []


def test_the_analytic_models_libraries_stay_out_of_the_api_process(tmp_path):
    """Their warm-ups and their computations run in the zygote and the compute processes forked from
    it, the machine-speed probe too: the API process, after the warm-ups, the probe and a request to
    each endpoint, holds none of them."""
    requests = analytic_requests()
    report = _probe(tmp_path, ANALYTIC_MODELS, requests)
    assert report["ready"] == "ready"
    assert report["requests"] == {path: 200 for path, _ in requests}
    assert report["after_warm_ups"] == [] and report["modules"] == []
    assert report["machine_unit"] > 0 and report["after_requests"] == []
    assert report["compute_process"]["modules"] == list(WARMED_MODULES)
    assert {"sklearn", "scipy", "kmodes", "joblib", "threadpoolctl"} <= set(
        report["compute_process"]["libraries"]
    )


def _import_metrics(queue) -> None:
    before = dict(os.environ)
    folders = set(os.listdir(tempfile.gettempdir()))
    import common.metrics  # noqa: F401

    queue.put(
        {
            "environ_changed": dict(os.environ) != before,
            "new_folders": sorted(set(os.listdir(tempfile.gettempdir())) - folders),
        }
    )


def _prepare_then_import(queue) -> None:
    from common.metrics_folder import multiprocess_mode, prepare_multiprocess
    from common.settings import Settings

    folder = prepare_multiprocess(Settings(_env_file=None))
    import common.metrics  # noqa: F401

    queue.put({"folder": str(folder), "exists": Path(str(folder)).is_dir(), "mode": multiprocess_mode()})


def _in_child(target) -> dict:
    """Run `target` in a process started like a uvicorn worker (a multiprocessing child)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(queue,))
    env_before = os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    try:
        process.start()
        result = queue.get(timeout=120)
        process.join(30)
    finally:
        if env_before is not None:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = env_before
    return result


def test_importing_the_metrics_module_changes_no_environment_and_creates_no_folder():
    assert _in_child(_import_metrics) == {"environ_changed": False, "new_folders": []}


def test_the_entry_point_chooses_the_shared_metrics_folder_before_the_metrics_exist():
    result = _in_child(_prepare_then_import)
    assert result["folder"] == str(Path(tempfile.gettempdir()) / f"sids-metrics-{os.getpid()}")
    assert result["exists"] and result["mode"]
    shutil.rmtree(result["folder"], ignore_errors=True)


WORKER_PROBE = """
import json, sys
from api_app import worker
from api_app.discovery import discover
discovery = discover(("SurveyCluster", "Statimpute"))
before = "kmodes" in sys.modules or "sklearn" in sys.modules
worker._warm_up(discovery)
print(json.dumps({"before": before, "after": [m for m in ("kmodes.kprototypes", "sklearn.model_selection")
                                              if m in sys.modules]}))
"""


def test_the_queue_worker_imports_model_libraries_before_forking_work_horses(tmp_path):
    """A work horse is forked per job: what the worker imported first, no job imports again."""
    done = subprocess.run(
        [sys.executable, "-c", WORKER_PROBE],
        cwd=REPO_ROOT,
        env={**os.environ, "STATE_DIR": str(tmp_path), "DATA_CACHE_DIR": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"before": False, "after": ["kmodes.kprototypes", "sklearn.model_selection"]}
