"""Cold start: importing and building the app loads no model library; the models' warm-ups load them
after readiness, in the background; importing the metrics module changes nothing in the process
(issues 14 and 18)."""

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common.settings import REPO_ROOT

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
EVERY_MODEL = (
    "twolvlImp,CountryCorrelation,Statimpute,SurveyCluster,sampleapi,flight_delay,sentiment,kserve_v2"
)
WARMED_MODULES = (
    "sklearn.cluster",
    "sklearn.model_selection",
    "kmodes.kprototypes",
    "sklearn.impute",
    "sklearn.ensemble",
    "scipy.interpolate",
    "joblib",
)
"""What the warm-ups import: the analytic models' libraries and twolvlImp's (imputers, forests, curves)."""

PROBE = """
import json, sys
sys.path.insert(0, "tests")
from helpers.app import make_settings, wait_ready, wait_started

def loaded():
    return sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[1])))

import api_app, api_app.factory
report = {"import": loaded(), "models_imported": sorted(m for m in sys.modules if m.startswith("models."))}
from fastapi.testclient import TestClient
app = api_app.factory.create_app(make_settings(model_service=tuple(sys.argv[2].split(","))))
report["create_app"] = loaded()
with TestClient(app) as client:
    report["ready"] = wait_ready(client)["status"]
    wait_started(client)  # the warm-ups, after readiness
    report["after_warm_ups"] = loaded()
    report["modules"] = [m for m in json.loads(sys.argv[3]) if m in sys.modules]
print(json.dumps(report))
"""


def test_building_the_app_loads_no_model_library_the_warm_ups_load_them(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(MODEL_LIBRARIES), EVERY_MODEL, json.dumps(WARMED_MODULES)],
        cwd=REPO_ROOT,
        env={**os.environ, "STATE_DIR": str(tmp_path), "DATA_CACHE_DIR": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["import"] == []
    assert report["models_imported"] == []  # importing the app imports no model package at all
    assert report["create_app"] == []
    assert report["ready"] == "ready"
    # after readiness, the warm-ups imported what the models compute with
    assert report["modules"] == list(WARMED_MODULES)
    assert {"sklearn", "scipy", "kmodes", "joblib", "threadpoolctl"} <= set(report["after_warm_ups"])
    # the artifact models load neither skops nor onnx in this process (compute processes score pipelines)
    assert {"onnxruntime"} <= set(report["after_warm_ups"]) and not {"skops", "onnx"} & set(
        report["after_warm_ups"]
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
