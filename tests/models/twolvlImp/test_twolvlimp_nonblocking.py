"""A long AFS training must not block the server: health and listings answer meanwhile."""

import threading
import time

import httpx

AFS = {
    "target_year": "2001",
    "dataset": "wdi",
    "target": "wdi-EG.ELC.ACCS.ZS",
    "interpolator": "KNNImputer",
    "scheme": "AFS",
    "number_predictor": 10,
    "estimators": 100,
    "model": "all",
    "interval": "bootstrap",
}


def test_light_endpoints_answer_while_afs_trains(server_url):
    outcome = {}

    def train() -> None:
        started = time.perf_counter()
        outcome["status"] = httpx.post(f"{server_url}/twolvlImp/predict", json=AFS, timeout=300).status_code
        outcome["seconds"] = time.perf_counter() - started

    worker = threading.Thread(target=train)
    worker.start()
    time.sleep(1.0)
    latencies = []
    with httpx.Client(base_url=server_url, timeout=10) as client:
        while worker.is_alive() and len(latencies) < 20:
            for path in ("/health/live", "/twolvlImp/target_years"):
                started = time.perf_counter()
                assert client.get(path).status_code == 200
                latencies.append(time.perf_counter() - started)
            time.sleep(0.1)
    training_still_running = worker.is_alive()
    worker.join()
    assert outcome["status"] == 200
    assert training_still_running or len(latencies) >= 4, "training ended before it could be probed"
    assert max(latencies) < 0.5, latencies
