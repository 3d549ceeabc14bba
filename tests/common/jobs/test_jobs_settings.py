"""Job, worker and cache settings: defaults that need nothing else, production refusing half a setup."""

import pytest
from pydantic import ValidationError

from common.jobs import build_jobs
from common.settings import Settings
from helpers.app import make_settings


def test_defaults_run_everything_in_process():
    settings = make_settings()
    executor, cache = build_jobs(settings)
    assert settings.job_backend == "local" and executor.backend == "local"
    assert type(cache).__name__ == "LocalCache"
    assert type(build_jobs(make_settings(cache_max_entries=0))[1]).__name__ == "NoCache"


def test_production_refuses_redis_without_its_url():
    with pytest.raises(ValidationError, match="JOB_BACKEND=redis needs REDIS_URL"):
        Settings(_env_file=None, environment="production", job_backend="redis")
    ok = Settings(
        _env_file=None,
        environment="production",
        job_backend="redis",
        redis_url="rediss://:secret@cache.example.net:6380/0",
    )
    assert ok.effective_redis_url.startswith("rediss://")
    assert make_settings(job_backend="redis").effective_redis_url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    "overrides",
    [
        {"job_backend": "celery"},
        {"worker_concurrency": 0},
        {"job_queue": "bad queue"},
        {"job_result_ttl_seconds": 1},
        {"worker_recovery_seconds": 1},
    ],
)
def test_invalid_values_are_refused(overrides):
    with pytest.raises(ValidationError):
        make_settings(**overrides)


@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_local_jobs_are_refused_with_several_uvicorn_processes(monkeypatch, environment):
    """Embedded jobs live in one process: with WEB_CONCURRENCY > 1 a poll reaches another process
    and gets 404, so the combination is refused in every environment."""
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    with pytest.raises(ValidationError, match="JOB_BACKEND=local with WEB_CONCURRENCY=2"):
        Settings(_env_file=None, environment=environment)
    scaled = Settings(
        _env_file=None, environment=environment, job_backend="redis", redis_url="redis://127.0.0.1:6379/0"
    )
    assert scaled.web_concurrency == 2
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    assert Settings(_env_file=None, environment=environment).job_backend == "local"


def test_graceful_shutdown_must_outlast_the_longest_request():
    with pytest.raises(
        ValidationError, match="GRACEFUL_SHUTDOWN_SECONDS=300 must exceed COMPUTE_TIMEOUT_SECONDS=300"
    ):
        make_settings(graceful_shutdown_seconds=300, compute_timeout_seconds=300)
    assert make_settings(graceful_shutdown_seconds=330).graceful_shutdown_seconds == 330
    assert make_settings().graceful_shutdown_seconds is None
