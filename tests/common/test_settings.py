"""Settings: read from the environment, validated, unsafe values refused outside development."""

import pytest
from pydantic import ValidationError

from common.constants import DEFAULT_CORS_ORIGINS
from common.settings import REPO_ROOT, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (
        "ENVIRONMENT",
        "MODEL_SERVICE",
        "CORS_ORIGINS",
        "MAX_BODY_BYTES",
        "DATASET_PATH",
        "COMPUTE_WORKERS",
        "COMPUTE_SCORING_WORKERS",
        "LOG_LEVEL",
        "JOB_BACKEND",
        "REDIS_URL",
        "REDIS_ALLOW_PLAINTEXT",
        "COMPUTE_ISOLATION",
        "JOB_TIMEOUT_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_serve_the_bundled_dataset_to_the_dashboard_origins():
    settings = Settings()
    assert settings.environment == "development"
    assert settings.cors_origins == DEFAULT_CORS_ORIGINS
    assert settings.model_service == ()
    assert settings.max_body_bytes == 10 * 1024 * 1024
    assert (settings.dataset_path / "indicatorMeta.csv").is_file()


def test_comma_separated_variables_are_split_and_trimmed(monkeypatch):
    monkeypatch.setenv("MODEL_SERVICE", "twolvlImp, sampleapi,")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = Settings()
    assert settings.model_service == ("twolvlImp", "sampleapi")
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.log_level == "DEBUG"


def test_one_compute_process_is_reserved_for_scoring_with_local_jobs_unless_set_otherwise(monkeypatch):
    assert Settings().effective_compute_scoring_workers == 1
    monkeypatch.setenv("JOB_BACKEND", "redis")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert Settings().effective_compute_scoring_workers == 0  # the computations run on queue workers
    monkeypatch.setenv("COMPUTE_SCORING_WORKERS", "2")
    assert Settings().effective_compute_scoring_workers == 2
    monkeypatch.setenv("JOB_BACKEND", "local")
    monkeypatch.setenv("COMPUTE_SCORING_WORKERS", "0")
    assert Settings().effective_compute_scoring_workers == 0


def test_compute_isolation_is_processes_where_the_platform_can_fork(monkeypatch):
    assert Settings().effective_compute_isolation == "process"  # Linux
    monkeypatch.setattr("multiprocessing.get_all_start_methods", lambda: ["spawn"])
    assert Settings().effective_compute_isolation == "thread"  # Windows
    monkeypatch.setenv("COMPUTE_ISOLATION", "process")
    assert Settings().effective_compute_isolation == "process"


@pytest.mark.parametrize(
    "name,value",
    [
        ("MAX_BODY_BYTES", "12"),
        ("COMPUTE_WORKERS", "0"),
        ("COMPUTE_SCORING_WORKERS", "-1"),
        ("COMPUTE_SCORING_WORKERS", "17"),
        ("ENVIRONMENT", "staging"),
        ("MAX_BODY_BYTES", "lots"),
        ("COMPUTE_ISOLATION", "fiber"),
        ("JOB_TIMEOUT_SECONDS", "0"),
    ],
)
def test_invalid_values_are_refused_at_startup(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as error:
        Settings()
    assert name.lower() in str(error.value)


@pytest.mark.parametrize(
    "origins,problem",
    [
        ("*", "not '*'"),
        ("http://dashboard.example", "plain http is allowed only for localhost"),
        ("http://localhost.evil.example", "plain http is allowed only for localhost"),
        ("http://127.0.0.1.nip.io", "plain http is allowed only for localhost"),
        ("null", "an origin is https://host"),
        ("https://dashboard.example/path", "no path"),
    ],
)
def test_production_refuses_unsafe_cors(monkeypatch, origins, problem):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("CORS_ORIGINS", origins)
    with pytest.raises(ValidationError, match=problem):
        Settings()


def test_production_accepts_https_origins_and_http_only_on_this_machine(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv(
        "CORS_ORIGINS", "https://data.undp.org,http://localhost:8080,http://127.0.0.1,http://[::1]:3000"
    )
    assert len(Settings().cors_origins) == 4


@pytest.mark.parametrize(
    "url,override,accepted",
    [
        ("redis://cache.example.net:6379/0", None, False),
        ("redis://10.0.0.5:6379/0", None, False),
        ("redis://cache.example.net:6379/0", "true", True),
        ("rediss://:key@cache.example.net:6380/0", None, True),
        ("redis://127.0.0.1:6379/0", None, True),
        ("redis://localhost:6379/0", None, True),
    ],
)
def test_production_refuses_plain_redis_to_a_remote_host_unless_overridden(
    monkeypatch, url, override, accepted
):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JOB_BACKEND", "redis")
    monkeypatch.setenv("REDIS_URL", url)
    if override:
        monkeypatch.setenv("REDIS_ALLOW_PLAINTEXT", override)
    if accepted:
        assert Settings().redis_url == url
    else:
        with pytest.raises(ValidationError, match="rediss://"):
            Settings()


def test_production_accepts_the_defaults_and_development_accepts_a_wildcard(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    assert Settings().environment == "production"
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("CORS_ORIGINS", "*")
    assert Settings().cors_origins == ("*",)


def test_every_setting_is_in_the_readme_table():
    table = [line for line in (REPO_ROOT / "README.md").read_text().splitlines() if line.startswith("| `")]
    missing = [
        name.upper()
        for name in Settings.model_fields
        if not any(f"`{name.upper()}`" in line.split(" | ")[0] for line in table)
    ]
    assert missing == []
