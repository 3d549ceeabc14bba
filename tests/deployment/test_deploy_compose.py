"""compose.yaml, the local scale-mode stack: valid for Docker Compose (`config` renders it) and wired
as the app expects. Public images cannot be pulled here, so the stack itself is exercised by the
container tests with the project's image and a private Redis (tests/container)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from common.settings import Settings
from helpers.deploy import REPO

APP_SERVICES = ("api", "worker")


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.skip("no Docker Compose (apt-get install docker-compose; .ci/run installs it)")


@pytest.fixture(scope="module")
def stack() -> dict:
    result = subprocess.run(
        [*compose_command(), "-f", str(REPO / "compose.yaml"), "config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "POSTGRES_PASSWORD": "from-the-env"},
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_the_stack_is_api_worker_redis_and_postgres(stack):
    assert set(stack) == {"api", "worker", "redis", "postgres"}
    for name in APP_SERVICES:
        service = stack[name]
        assert service["image"] == "sids-ml-backend:local" and service["build"]["context"] == str(REPO)
        assert (
            service["read_only"] is True and service["tmpfs"] == ["/tmp"] and service["cap_drop"] == ["ALL"]
        )
        assert {dep: spec["condition"] for dep, spec in service["depends_on"].items()} == {
            "redis": "service_healthy",
            "postgres": "service_healthy",
        }
    assert stack["worker"]["command"] == ["python", "-m", "api_app.worker"]
    assert stack["worker"]["healthcheck"]["test"] == ["CMD", "python", "-m", "common.heartbeat"]
    assert "127.0.0.1:8000:8000" in str(stack["api"]["ports"][0])


def test_the_app_services_run_scale_mode_with_the_database(stack):
    for name in APP_SERVICES:
        env = stack[name]["environment"]
        settings = Settings(
            _env_file=None, **{k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields}
        )
        assert settings.job_backend == "redis" and settings.redis_url == "redis://redis:6379/0"
        assert env["DATABASE_URL"] == "postgresql+psycopg://sids:from-the-env@postgres:5432/sids"
    assert int(stack["api"]["environment"]["WEB_CONCURRENCY"]) > 1
    assert stack["postgres"]["environment"]["POSTGRES_PASSWORD"] == "from-the-env"


def test_stopping_waits_for_the_longest_request_and_job():
    raw = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    graceful = 330  # the image's GRACEFUL_SHUTDOWN_SECONDS
    assert f"GRACEFUL_SHUTDOWN_SECONDS={graceful}" in (REPO / "Dockerfile").read_text()
    assert int(raw["api"]["stop_grace_period"].rstrip("s")) > graceful
    assert (
        int(raw["worker"]["stop_grace_period"].rstrip("s"))
        > Settings.model_fields["compute_timeout_seconds"].default
    )
