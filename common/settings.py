"""The one place the environment is read: a typed, validated settings object."""

import ipaddress
import multiprocessing
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from common.constants import DEFAULT_CORS_ORIGINS

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATASET_PATH = REPO_ROOT / "shared_dataloader" / "data" / "sids"
DEFAULT_MODEL_STORE_PATH = REPO_ROOT / "model_store"
MAX_SAFE_BODY_BYTES = 100 * 1024 * 1024
DEV_REDIS_URL = "redis://127.0.0.1:6379/0"

DEFAULT_JOB_FILES_DIR = Path(tempfile.gettempdir()) / "sids-job-files"
DEFAULT_DATA_CACHE_DIR = Path(tempfile.gettempdir()) / "sids-data-cache"
LOOPBACK_HOSTS = frozenset({"localhost"})

CommaList = Annotated[tuple[str, ...], NoDecode]
SCOPES = ("read", "compute", "admin")
RATE_LIMIT_PATTERN = r"^\d{1,9}\s*(/|per)\s*(\d{1,6}\s*)?(second|minute|hour|day)s?$"


def _default_state_dir() -> Path:
    """Where the SQLite database and the audit spool live by default: `.data/` in the checkout, or the
    temporary folder when the checkout is read-only (as in the container image)."""
    local = REPO_ROOT / ".data"
    if os.access(local if local.exists() else REPO_ROOT, os.W_OK):
        return local
    return Path(tempfile.gettempdir()) / "sids-ml-backend"


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class Settings(BaseSettings):
    """Every environment variable the service reads (documented in the README's table)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = Field(
        "development", description="`production` refuses unsafe values (e.g. CORS `*`)."
    )
    dataset_path: Path = Field(DEFAULT_DATASET_PATH, description="Folder of the indicator dataset.")
    data_cache_dir: Path = Field(
        DEFAULT_DATA_CACHE_DIR,
        description="Writable folder where the dataset's fast binary form is built once from its CSV "
        "files (keyed by their sha256), and the model store's skops artifacts their derived form (keyed "
        "by the artifact's sha256), read at every later start. Unwritable: the CSVs are parsed and the "
        "artifacts loaded by skops at each start (the container image ships both for its bundled data).",
    )
    model_store_path: Path = Field(DEFAULT_MODEL_STORE_PATH, description="Folder of trained-artifact models.")
    model_service: CommaList = Field(
        (), description="Comma-separated model names to load; empty loads every model."
    )
    cors_origins: CommaList = Field(DEFAULT_CORS_ORIGINS, description="Allowed browser origins.")
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest request body.")
    compute_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=64,
        description="Model computations run at once (compute processes, see COMPUTE_ISOLATION).",
    )
    compute_scoring_workers: int | None = Field(
        None,
        ge=0,
        le=16,
        description="Extra compute processes reserved for quick scoring calls (an artifact the API "
        "process does not load: flight_delay 1's pipeline, flight_delay 2's ONNX model), so they never "
        "wait behind the COMPUTE_WORKERS long computations; such a call uses a general process when "
        "none of these is free. 0: no reserved processes (scoring waits with the other computations). "
        "Unset: 1 with JOB_BACKEND=local, 0 with redis (the model computations then run on the queue "
        "workers, so the API's compute processes only score).",
    )
    compute_isolation: Literal["auto", "process", "thread"] = Field(
        "auto",
        description="`process`: model computations run in persistent compute processes that are "
        "killed and replaced when they overrun or are cancelled. `thread`: in threads of the API process "
        "(they stop only at their next progress report). `auto`: process where the platform can fork "
        "(Linux, macOS), thread elsewhere (Windows).",
    )
    compute_queue_size: int = Field(
        32, ge=1, le=10_000, description="Computations allowed to wait for a worker."
    )
    compute_timeout_seconds: float = Field(
        300.0,
        gt=0,
        le=3600,
        description="Time limit of one synchronous computation (waiting for a "
        "compute slot included); a request estimated to take longer is refused at once (422).",
    )
    job_timeout_seconds: float = Field(
        3600.0,
        gt=0,
        le=24 * 3600,
        description="Time limit of one job (`Prefer: respond-async` or "
        "`wait=N`); a job estimated to take longer is refused at once (422).",
    )
    worker_wait_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="JOB_BACKEND=redis: how long a synchronous request waits for a "
        "queue worker to take its job when none is running (a scale-up from zero) before a 503.",
    )
    redis_timeout_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="Socket timeout of the API's Redis calls; a stalled Redis answers "
        "503 (jobs) or falls back to the in-process cache after this long.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] | None = Field(
        None,
        description="`json`: one JSON object per line (level, message, request id, trace id, model, "
        "route, status, duration). Default: `text` in development, `json` otherwise.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        None,
        pattern=r"^https?://\S+$",
        description="OTLP/HTTP collector base URL (traces go to "
        "`<url>/v1/traces`). Unset: no tracing at all.",
    )
    otel_service_name: str | None = Field(
        None,
        max_length=100,
        description="Service name on traces; default `sids-api` (API) or `sids-worker`.",
    )
    job_backend: Literal["local", "redis"] = Field(
        "local",
        description="`local`: jobs run in the API process (one process only). `redis`: the API "
        "queues all model work in Redis and `python -m api_app.worker` processes it.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis for JOB_BACKEND=redis (jobs, result cache), e.g. "
        "`rediss://:<key>@<name>.redis.cache.windows.net:6380/0`. Defaults to a local Redis outside production.",
    )
    job_queue: str = Field(
        "sids-models",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Name of the Redis queue (the Redis list `rq:queue:<name>` that KEDA measures).",
    )
    job_result_ttl_seconds: int = Field(
        3600,
        ge=10,
        le=7 * 24 * 3600,
        description="How long a finished job (result or error) stays readable.",
    )
    job_max_retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Re-runs of a job whose worker died mid-job (SIGKILL, lost node).",
    )
    worker_concurrency: int = Field(
        1,
        ge=1,
        le=64,
        description="Jobs one `api_app.worker` process runs at once (one forked worker each).",
    )
    worker_recovery_seconds: int = Field(
        60,
        ge=2,
        le=3600,
        description="A job whose worker stopped sending heartbeats is re-queued after "
        "about this many seconds.",
    )
    worker_heartbeat_dir: Path = Field(
        Path("/tmp/sids-worker-heartbeat"),
        description="Folder where each queue worker process touches a file "
        "at every turn of its loop; `python -m common.heartbeat` (the worker pods' liveness probe) checks it.",
    )
    worker_heartbeat_max_age_seconds: int = Field(
        120,
        ge=10,
        le=3600,
        description="A worker whose heartbeat file is older than this is reported dead "
        "(above rq's 60 s Redis reconnect back-off, so a Redis outage does not fail every worker at once).",
    )
    port: int = Field(8000, ge=1, le=65535, description="Port uvicorn listens on in the container image.")
    graceful_shutdown_seconds: float | None = Field(
        None,
        gt=0,
        le=7200,
        description="How long uvicorn lets requests in flight finish after SIGTERM (the "
        "container image passes it to uvicorn); must exceed COMPUTE_TIMEOUT_SECONDS.",
    )
    web_concurrency: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes: uvicorn's workers (uvicorn reads it too) or those "
        "`python -m api_app.serve` forks. More than 1 needs JOB_BACKEND=redis: embedded jobs live in "
        "the process that started them.",
    )
    cache_max_entries: int = Field(
        512,
        ge=0,
        le=1_000_000,
        description="Responses kept by the in-process result cache (0 disables "
        "caching; with JOB_BACKEND=redis the cache lives in Redis and this is not used).",
    )
    cache_ttl_seconds: int = Field(
        24 * 3600,
        ge=1,
        le=30 * 24 * 3600,
        description="How long a cached response (and, on queue workers, "
        "a shared intermediate result) stays valid.",
    )

    machine_speed_probe: bool = Field(
        True,
        description="Measure this host's speed once in the background after startup (a few "
        "seconds of one core), so duration estimates hold on this machine.",
    )
    redis_allow_plaintext: bool = Field(
        False,
        description="Allow a plain `redis://` REDIS_URL to a host other than this machine in "
        "production (only inside a private network that encrypts traffic itself).",
    )
    job_files_dir: Path = Field(
        DEFAULT_JOB_FILES_DIR,
        description="Folder where the API keeps the scored files of embedded batch jobs until they expire.",
    )
    job_files_max_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1024,
        description="Total size of the files kept in JOB_FILES_DIR; "
        "when full, new file jobs are refused (503, Retry-After) until old ones expire.",
    )
    server_max_header_bytes: int = Field(
        32 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Largest request line plus headers uvicorn accepts (431 beyond).",
    )
    server_header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        description="A client must send its request line and headers within this "
        "time, or the connection is closed.",
    )
    server_body_timeout_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="A client must send a whole request body within this time "
        "after its headers, or the connection is closed.",
    )
    server_keepalive_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="An idle keep-alive connection is closed after this time.",
    )

    auth_mode: Literal["off", "on"] | None = Field(
        None,
        description="`on`: callers prove who they are (API key or JWT) and need the scope of each route; "
        "anonymous callers get ANONYMOUS_SCOPES. Default: `on` in production, `off` elsewhere.",
    )
    allow_auth_off_in_production: bool = Field(
        False,
        description="The explicit override that lets production run with AUTH_MODE=off.",
    )
    anonymous_scopes: CommaList = Field(
        ("read", "compute"),
        description="Scopes of callers without credentials when AUTH_MODE=on.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the key and audit database, e.g. "
        "`postgresql+psycopg://user@host:5432/sids`. Default: a SQLite file in STATE_DIR.",
    )
    database_url_file: Path | None = Field(
        None,
        description="A file holding DATABASE_URL (e.g. the Key Vault secret mounted by the Secrets Store CSI "
        "driver); used when DATABASE_URL is unset.",
    )
    state_dir: Path = Field(
        default_factory=_default_state_dir,
        description="Folder of the default SQLite database and the audit spool file.",
    )
    api_key_cache_seconds: float = Field(
        60.0,
        ge=0,
        le=60,
        description="How long a verified API key is trusted without a database read.",
    )
    oidc_issuer: str | None = Field(
        None,
        description="Issuer (`iss`) of accepted JWTs, e.g. `https://login.microsoftonline.com/<tenant>/v2.0`; "
        "unset: bearer tokens are refused.",
    )
    oidc_audience: str | None = Field(None, description="Audience (`aud`) accepted JWTs must carry.")
    oidc_jwks_url: str | None = Field(
        None,
        description="The issuer's JWKS URL (signing keys, fetched and cached; refetched for an unknown `kid`).",
    )
    oidc_jwks_cooldown_seconds: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="Least time between two JWKS fetches forced by tokens with an unknown `kid` "
        "(a rotated key is seen within this time; a flood of bogus kids cannot hammer the issuer).",
    )
    oidc_scope_map: CommaList = Field(
        ("read=read", "compute=compute", "admin=admin"),
        description="`claim value=scope` pairs: which `scp`/`roles` values grant which scope.",
    )
    rate_limit_anonymous: str = Field(
        "120/minute",
        pattern=RATE_LIMIT_PATTERN,
        description="Cost units one anonymous client address may spend, e.g. `120/minute`.",
    )
    rate_limit_authenticated: str = Field(
        "1200/minute",
        pattern=RATE_LIMIT_PATTERN,
        description="Cost units one API key or token subject may spend (a key may carry its own limit).",
    )
    rate_cost_compute: int = Field(2, ge=1, le=1000, description="Cost of a model call (a listing costs 1).")
    rate_cost_heavy: int = Field(
        10,
        ge=1,
        le=1000,
        description="Cost of heavy work: twolvlImp AFS or IterativeImputer, backtests, batches.",
    )
    heavy_concurrency_per_caller: int = Field(
        2,
        ge=1,
        le=1000,
        description="Heavy requests and jobs one caller may have running at once.",
    )
    heavy_concurrency_anonymous: int = Field(
        4,
        ge=1,
        le=1000,
        description="Heavy requests and jobs all anonymous callers together may have running.",
    )
    trusted_proxies: CommaList = Field(
        (),
        description="Addresses or CIDR ranges of proxies whose `X-Forwarded-For` is believed (e.g. the "
        "Gateway's pod range). Empty: the direct peer is the client.",
    )
    prometheus_multiproc_dir: Path | None = Field(
        None,
        description="Folder where every uvicorn worker writes its metric samples (prometheus_client "
        "multiprocess mode). Unset with several workers: a folder named after their parent process "
        "in the temporary folder.",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port of the internal `/metrics` server for Prometheus (not routed "
        "by the Gateway); `/metrics` on the public port needs `admin` when AUTH_MODE=on.",
    )
    audit_retention_days: int = Field(
        90, ge=1, le=3650, description="Audit records older than this are pruned."
    )
    audit_store_bodies: bool = Field(
        False,
        description="Also store request bodies in the audit trail (only their hash by default).",
    )
    audit_flush_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Longest time an audit record waits before it is written.",
    )

    @field_validator(
        "model_service",
        "cors_origins",
        "anonymous_scopes",
        "oidc_scope_map",
        "trusted_proxies",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("otel_exporter_otlp_endpoint", "otel_service_name", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_or_unset(cls, value: object) -> object:
        return (value.strip().lower() or None) if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("anonymous_scopes")
    @classmethod
    def _known_scopes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [s for s in value if s not in SCOPES]
        if unknown:
            raise ValueError(f"unknown scopes {', '.join(unknown)}; known: {', '.join(SCOPES)}")
        return value

    @field_validator("oidc_scope_map")
    @classmethod
    def _scope_pairs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pair in value:
            claim, _, scope = pair.partition("=")
            if not claim.strip() or scope.strip() not in SCOPES:
                raise ValueError(
                    f"OIDC_SCOPE_MAP entry {pair!r} must be `claim value=scope` with a scope among "
                    f"{', '.join(SCOPES)}"
                )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(
                    f"TRUSTED_PROXIES entry {network!r} is not an address or CIDR range"
                ) from None
        return value

    @property
    def effective_compute_scoring_workers(self) -> int:
        if self.compute_scoring_workers is not None:
            return self.compute_scoring_workers
        return 1 if self.job_backend == "local" else 0

    @property
    def effective_compute_isolation(self) -> str:
        if self.compute_isolation != "auto":
            return self.compute_isolation
        return "process" if "fork" in multiprocessing.get_all_start_methods() else "thread"

    @property
    def effective_log_format(self) -> str:
        return self.log_format or ("text" if self.environment == "development" else "json")

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or DEV_REDIS_URL

    @property
    def auth_enabled(self) -> bool:
        return (self.auth_mode or ("on" if self.environment == "production" else "off")) == "on"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        if self.database_url_file is not None:
            return self.database_url_file.read_text().strip()
        return f"sqlite:///{self.state_dir / 'sids-ml.sqlite3'}"

    @property
    def scope_map(self) -> dict[str, str]:
        return {
            claim.strip(): scope.strip()
            for claim, _, scope in (p.partition("=") for p in self.oidc_scope_map)
        }

    @model_validator(mode="after")
    def _refuse_jobs_split_across_processes(self) -> "Settings":
        if self.job_backend == "local" and self.web_concurrency > 1:
            raise ValueError(
                f"JOB_BACKEND=local with WEB_CONCURRENCY={self.web_concurrency}: embedded jobs live in the "
                "uvicorn process that started them, so the other processes answer 404 for them. Use "
                "JOB_BACKEND=redis (with REDIS_URL and `python -m api_app.worker`) or WEB_CONCURRENCY=1."
            )
        if (
            self.graceful_shutdown_seconds is not None
            and self.graceful_shutdown_seconds <= self.compute_timeout_seconds
        ):
            raise ValueError(
                f"GRACEFUL_SHUTDOWN_SECONDS={self.graceful_shutdown_seconds:g} must exceed COMPUTE_TIMEOUT_SECONDS="
                f"{self.compute_timeout_seconds:g}, or a shutdown cuts the longest request short"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_outside_development(self) -> "Settings":
        if self.environment != "production":
            return self
        problems = []
        if self.job_backend == "redis" and not self.redis_url:
            problems.append("JOB_BACKEND=redis needs REDIS_URL")
        if "*" in self.cors_origins:
            problems.append("CORS_ORIGINS must list origins, not '*'")
        refused = [
            f"{origin} ({reason})"
            for origin in self.cors_origins
            if origin != "*" and (reason := origin_problem(origin))
        ]
        if refused:
            problems.append(
                f"CORS_ORIGINS must be https origins (or http on localhost): {', '.join(refused)}"
            )
        if (
            (self.job_backend == "redis" or self.redis_url)
            and not self.redis_allow_plaintext
            and (reason := redis_url_problem(self.effective_redis_url))
        ):
            problems.append(reason)
        if self.auth_mode == "off" and not self.allow_auth_off_in_production:
            problems.append("AUTH_MODE=off needs ALLOW_AUTH_OFF_IN_PRODUCTION=true")
        if "admin" in self.anonymous_scopes:
            problems.append("ANONYMOUS_SCOPES must not include admin")
        if self.database_url_file is not None and not self.database_url_file.is_file():
            problems.append(f"DATABASE_URL_FILE {self.database_url_file} does not exist")
        if self.oidc_issuer and not (self.oidc_audience and self.oidc_jwks_url):
            problems.append("OIDC_ISSUER needs OIDC_AUDIENCE and OIDC_JWKS_URL")
        if self.max_body_bytes > MAX_SAFE_BODY_BYTES:
            problems.append(f"MAX_BODY_BYTES must be at most {MAX_SAFE_BODY_BYTES}")
        if problems:
            raise ValueError("unsafe settings for production: " + "; ".join(problems))
        return self


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_problem(origin: str) -> str | None:
    """Why `origin` is not a safe browser origin for production (scheme://host[:port]), or None."""
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "not a valid origin"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "an origin is https://host[:port]"
    if parts.username or parts.password or parts.path or parts.query or parts.fragment:
        return "an origin has no path, query or user"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return "plain http is allowed only for localhost"
    return None


def redis_url_problem(url: str) -> str | None:
    """Why a REDIS_URL sends data unencrypted across the network (plain redis:// to another host)."""
    parts = urlsplit(url)
    if parts.scheme == "redis" and not _is_loopback(parts.hostname or ""):
        return (
            "REDIS_URL must use rediss:// (TLS) to a remote host; set REDIS_ALLOW_PLAINTEXT=true "
            "only inside a network that encrypts traffic itself"
        )
    return None


@lru_cache
def get_settings() -> Settings:
    return Settings()
