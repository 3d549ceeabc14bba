"""Settings: read from the environment, validated, unsafe values refused outside development."""

import pytest
from pydantic import ValidationError

from common.constants import DEFAULT_CORS_ORIGINS
from common.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("ENVIRONMENT", "MODEL_SERVICE", "CORS_ORIGINS", "MAX_BODY_BYTES", "DATASET_PATH",
                 "COMPUTE_WORKERS", "LOG_LEVEL", "COMPUTE_ISOLATION", "JOB_TIMEOUT_SECONDS"):
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


def test_compute_isolation_is_processes_where_the_platform_can_fork(monkeypatch):
    assert Settings().effective_compute_isolation == "process"  # Linux
    monkeypatch.setattr("multiprocessing.get_all_start_methods", lambda: ["spawn"])
    assert Settings().effective_compute_isolation == "thread"  # Windows
    monkeypatch.setenv("COMPUTE_ISOLATION", "process")
    assert Settings().effective_compute_isolation == "process"


@pytest.mark.parametrize("name,value", [("MAX_BODY_BYTES", "12"), ("COMPUTE_WORKERS", "0"),
                                        ("ENVIRONMENT", "staging"), ("MAX_BODY_BYTES", "lots"),
                                        ("COMPUTE_ISOLATION", "fiber"), ("JOB_TIMEOUT_SECONDS", "0")])
def test_invalid_values_are_refused_at_startup(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as error:
        Settings()
    assert name.lower() in str(error.value)


@pytest.mark.parametrize("origins,problem", [
    ("*", "not '*'"),
    ("http://dashboard.example", "https outside localhost"),
])
def test_production_refuses_unsafe_cors(monkeypatch, origins, problem):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("CORS_ORIGINS", origins)
    with pytest.raises(ValidationError, match=problem):
        Settings()


def test_production_accepts_the_defaults_and_development_accepts_a_wildcard(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    assert Settings().environment == "production"
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("CORS_ORIGINS", "*")
    assert Settings().cors_origins == ("*",)
