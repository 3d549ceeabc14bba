"""Access-control settings: safe defaults, production refuses AUTH_MODE=off without the override."""

import pytest
from pydantic import ValidationError

from common.settings import Settings


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_auth_is_off_in_development_and_on_in_production():
    assert not settings().auth_enabled
    assert settings(environment="production").auth_enabled
    assert settings(auth_mode="on").auth_enabled
    assert settings().anonymous_scopes == ("read", "compute")
    assert settings().effective_database_url.startswith("sqlite:///")


def test_production_refuses_auth_off_unless_explicitly_overridden():
    with pytest.raises(ValidationError, match="ALLOW_AUTH_OFF_IN_PRODUCTION"):
        settings(environment="production", auth_mode="off")
    assert not settings(
        environment="production", auth_mode="off", allow_auth_off_in_production=True
    ).auth_enabled


@pytest.mark.parametrize(
    "values, message",
    [
        ({"anonymous_scopes": "read,root"}, "unknown scopes root"),
        ({"oidc_scope_map": "Models.Read=superuser"}, "OIDC_SCOPE_MAP"),
        ({"trusted_proxies": "10.0.0.0/8,gateway"}, "TRUSTED_PROXIES"),
        ({"rate_limit_anonymous": "lots"}, "rate_limit_anonymous"),
        ({"api_key_cache_seconds": 3600}, "api_key_cache_seconds"),
    ],
)
def test_invalid_values_are_refused(values, message):
    with pytest.raises(ValidationError, match=message):
        settings(**values)


def test_production_refuses_anonymous_admin_and_half_configured_oidc():
    with pytest.raises(ValidationError, match="must not include admin"):
        settings(environment="production", anonymous_scopes="read,admin")
    with pytest.raises(ValidationError, match="OIDC_ISSUER needs"):
        settings(environment="production", oidc_issuer="https://login.example/v2.0")


def test_environment_variables_reach_the_settings(monkeypatch):
    monkeypatch.setenv("AUTH_MODE", "on")
    monkeypatch.setenv("ANONYMOUS_SCOPES", "read")
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8")
    monkeypatch.setenv("OIDC_SCOPE_MAP", "Sids.Admin=admin")
    loaded = Settings(_env_file=None)
    assert loaded.auth_enabled and loaded.anonymous_scopes == ("read",)
    assert loaded.trusted_proxies == ("10.0.0.0/8", "fd00::/8") and loaded.scope_map == {
        "Sids.Admin": "admin"
    }


def test_the_database_url_can_come_from_a_mounted_secret_file(tmp_path):
    secret = tmp_path / "database-url"
    secret.write_text("postgresql+psycopg://app:pw@db.internal:5432/sids?sslmode=require\n")
    assert settings(database_url_file=secret).effective_database_url.endswith("/sids?sslmode=require")
    assert (
        settings(database_url_file=secret, database_url="sqlite:///x.db").effective_database_url
        == "sqlite:///x.db"
    )
    with pytest.raises(ValidationError, match="DATABASE_URL_FILE"):
        settings(environment="production", database_url_file=tmp_path / "missing")
