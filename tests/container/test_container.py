"""The image built from the project's Dockerfile, run as production runs it: non-root, read-only root
filesystem, the dataset mounted read-only, a graceful SIGTERM, and the queue worker mode on Redis."""

from __future__ import annotations

import contextlib
import json
import time

import httpx
import psycopg
import pytest

from common.settings import DEFAULT_DATASET_PATH, Settings
from helpers.container import FIGURES, in_background
from helpers.servers import free_port as free_port_of_host

pytestmark = pytest.mark.container

IMAGE_LIMIT_MB = 450
SUMMARY = {"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2015"}
PRODUCTION = ("-e", "ENVIRONMENT=production", "-e", "CORS_ORIGINS=https://sids-dashboard.example.org")
# As the Kubernetes manifests run it: read-only root, a small writable /tmp, no capabilities.
HARDENED = (
    "--read-only",
    "--tmpfs",
    "/tmp:size=64m",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
)


def served(port: int, *options: str) -> tuple[str, ...]:
    """Options for a server container on the host's network, on a free loopback port."""
    return ("--network", "host", "-e", "HOST=127.0.0.1", "-e", f"PORT={port}", *options)


def dataset_mount() -> tuple[str, ...]:
    return ("-v", f"{DEFAULT_DATASET_PATH}:/data/sids:ro", "-e", "DATASET_PATH=/data/sids")


def check_summary(answer: dict) -> None:
    """Access to electricity (% of population): plausible shares, and the difference that is claimed."""
    assert answer["indicator"] == SUMMARY["indicator"] and answer["year"] == "2015"
    for group in ("sids", "others"):
        stats = answer[group]
        assert stats["countries"] >= 10 and 0 <= stats["median"] <= 100 and 0 <= stats["mean"] <= 100
    assert answer["mean_difference"] == pytest.approx(answer["sids"]["mean"] - answer["others"]["mean"])


def test_the_image_is_small_and_holds_only_what_the_runtime_needs(docker, image):
    size_mb = docker.image_size(image) / 1e6
    assert size_mb <= IMAGE_LIMIT_MB, f"image is {size_mb:.0f} MB"
    probe = (
        "test ! -e /app/tests && test ! -e /app/.git && test ! -e /app/deployment && "
        "! python -m pip --version 2>/dev/null && ! command -v gcc && ! command -v strip && "
        "find /opt/venv -type d -name tests | wc -l && id -u"
    )
    result = docker.run("run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", probe)
    assert result.stdout.split() == ["0", "10001"], result.stdout + result.stderr
    config = docker.inspect_image(image)["Config"]
    assert config["User"] == "10001:10001" and "/tmp" in config["Volumes"]


def test_the_readme_docker_run_serves_with_nothing_else(containers, image):
    """`docker run --read-only --tmpfs /tmp <image>` (no Redis, no database, no settings) serves the
    bundled dataset; so does `--read-only` alone, the image's /tmp volume being writable (checked
    with one model, to keep the test short)."""
    for options in (("--read-only", "--tmpfs", "/tmp"), ("--read-only", "-e", "MODEL_SERVICE=sampleapi")):
        container = containers(image, "--network", "none", *options)
        deadline = time.monotonic() + 180
        check = (
            "import urllib.request as u; r = u.urlopen('http://127.0.0.1:8000/health/ready', timeout=5); "
            "print(r.status)"
        )
        while time.monotonic() < deadline:
            result = container.exec("python", "-c", check)
            if result.stdout.strip() == "200":
                break
            assert container.state()["Running"], container.logs()
            time.sleep(0.5)
        else:
            raise AssertionError(f"{options}: not ready:\n{container.logs()}")
        health = container.exec("python", "-m", "api_app.healthcheck")
        assert health.returncode == 0 and "/health/live: 200" in health.stdout, health.stderr
        assert container.docker.inspect(container.name)["RestartCount"] == 0
        container.remove()


def test_the_api_serves_as_production_runs_it(containers, image):
    port = free_port_of_host()
    container = containers(image, *served(port, *HARDENED, *PRODUCTION, *dataset_mount()), port=port)
    FIGURES["cold start to /health/ready (s)"] = round(container.wait_ready(), 1)
    ready = httpx.get(container.url + "/health/ready").json()
    assert ready["data"] and all(d["state"] == "ready" for d in ready["data"].values())
    answer = httpx.post(container.url + "/sampleapi/predict", json=SUMMARY, timeout=60)
    assert answer.status_code == 200, answer.text
    check_summary(answer.json())
    datasets = httpx.get(container.url + "/datasets").json()
    assert "indicatorData.csv.gz" in json.dumps(datasets), "the mounted dataset is the one served"
    # non-root, and the root filesystem and the dataset are read-only
    assert container.exec("id", "-u").stdout.strip() == "10001"
    for path in ("/app/new-file", "/data/sids/new-file", "/opt/venv/new-file"):
        denied = container.exec("touch", path)
        assert denied.returncode != 0 and "Read-only file system" in denied.stderr, path
    assert container.exec("touch", "/tmp/writable").returncode == 0


def test_sigterm_lets_a_request_in_flight_finish(containers, image):
    """The request's body is still arriving when SIGTERM comes: uvicorn stops listening, answers the
    request in full, then exits 0 (within GRACEFUL_SHUTDOWN_SECONDS)."""
    port = free_port_of_host()
    container = containers(image, *served(port, *HARDENED, *dataset_mount()), port=port)
    container.wait_ready()
    body = json.dumps(SUMMARY).encode()

    def slow_upload():
        yield body[:10]
        time.sleep(3)
        yield body[10:]

    def post():
        return httpx.post(
            container.url + "/sampleapi/predict",
            content=slow_upload(),
            headers={"Content-Type": "application/json"},
            timeout=60,
        )

    answer = in_background(post)
    time.sleep(1)
    signalled = time.monotonic()
    container.docker.run("kill", "--signal", "TERM", container.name)
    time.sleep(0.5)
    with pytest.raises(httpx.TransportError):
        httpx.get(container.url + "/health/live", timeout=2)
    response = answer()
    assert response.status_code == 200, response.text
    check_summary(response.json())
    deadline = time.monotonic() + 30
    while container.state()["Running"] and time.monotonic() < deadline:
        time.sleep(0.2)
    state = container.state()
    assert not state["Running"] and state["ExitCode"] == 0, container.logs()
    FIGURES["SIGTERM to exit with a request in flight (s)"] = round(time.monotonic() - signalled, 1)


def test_scale_mode_api_and_worker_run_a_job_against_redis(containers, image, redis_url, redis_conn):
    """The image in scale mode: two uvicorn processes queue to Redis (a private redis-server), the
    worker image mode runs the job; the worker's own health check reads its heartbeat, and SIGTERM
    stops it cleanly."""
    scale = (
        "-e",
        "JOB_BACKEND=redis",
        "-e",
        f"REDIS_URL={redis_url}",
        "-e",
        "MODEL_SERVICE=sampleapi",
        *dataset_mount(),
        *HARDENED,
    )
    worker = containers(image, "--network", "host", *scale, command=("python", "-m", "api_app.worker"))
    port = free_port_of_host()
    api = containers(image, *served(port, *scale, "-e", "WEB_CONCURRENCY=2"), port=port)
    api.wait_ready()
    accepted = httpx.post(api.url + "/sampleapi/predict", json=SUMMARY, headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202, accepted.text
    location = api.url + accepted.headers["location"]
    deadline = time.monotonic() + 120
    while (job := httpx.get(location).json())["status"] in (
        "queued",
        "running",
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    check_summary(job["result"])
    # every uvicorn process answers for the job (no 404 from the other one)
    assert all(httpx.get(location).json()["status"] == "succeeded" for _ in range(12))

    health = worker.exec("python", "-m", "api_app.healthcheck")
    assert health.returncode == 0 and "worker(s) alive" in health.stdout, health.stdout + health.stderr
    heartbeat_dir = Settings.model_fields["worker_heartbeat_dir"].default
    assert worker.exec("ls", str(heartbeat_dir)).stdout.split(), "the worker loop keeps a heartbeat file"
    worker.docker.run("stop", "--time", "30", worker.name, timeout=60)
    assert worker.state()["ExitCode"] == 0, worker.logs()


def test_keys_and_audit_reach_postgresql_through_debian_libpq(containers, image, postgres_url):
    """psycopg in the image is its pure-Python implementation on Debian's libpq5 (psycopg-binary and its
    bundled libraries are left out): the server brings the schema up (without auth, just after
    readiness) and audits a call."""
    port = free_port_of_host()
    database = ("-e", f"DATABASE_URL={postgres_url}", "-e", "MODEL_SERVICE=sampleapi")
    api = containers(image, *served(port, *HARDENED, *database, *dataset_mount()), port=port)
    api.wait_ready()
    driver = api.exec("python", "-c", "import psycopg; print(psycopg.pq.__impl__, psycopg.pq.version())")
    implementation, libpq_version = driver.stdout.split()
    assert implementation == "python" and int(libpq_version) >= 150000, driver.stdout + driver.stderr
    answer = httpx.post(
        api.url + "/sampleapi/predict", json=SUMMARY, headers={"X-Request-ID": "container-libpq"}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    check_summary(answer.json())
    query = "SELECT event, model, status FROM audit_events WHERE request_id = 'container-libpq'"
    deadline = time.monotonic() + 30
    rows: list[tuple] = []
    with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as conn:
        while not rows and time.monotonic() < deadline:
            with contextlib.suppress(psycopg.errors.UndefinedTable):  # the audit writer has not migrated yet
                rows = conn.execute(query).fetchall()
            if not rows:
                time.sleep(0.5)
    assert rows == [("model_call", "sampleapi", 200)], api.logs()
