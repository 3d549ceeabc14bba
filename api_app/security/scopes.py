"""Which scope each route needs: one rule, used by the request check and by the OpenAPI document.

- public (no scope): `/health/*`, the docs, the playground `/ui` and static files;
- `admin`: the audit trail, key management, `/metrics`, and any model's `reload`;
- otherwise `read` for GET (listings, metadata, `/params`) and `compute` for POST (model calls,
  jobs, backtests, batches); job reads are `compute` too, as jobs come from model calls.
"""

from functools import lru_cache

READ, COMPUTE, ADMIN = "read", "compute", "admin"
PUBLIC_PREFIXES = ("/health/", "/docs", "/redoc", "/openapi.json", "/ui", "/static", "/static-offline-docs")
ADMIN_PREFIXES = ("/audit", "/keys", "/metrics")
ADMIN_SUFFIXES = ("/reload",)
SCOPE_DESCRIPTIONS = {
    READ: "listings, `/params` and model metadata",
    COMPUTE: "model calls, jobs, backtests and batches",
    ADMIN: "reloads, the audit trail, key management and `/metrics`",
}


def _under(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


@lru_cache(maxsize=1024)
def required_scope(method: str, path: str) -> str | None:
    """The scope a request to route template `path` needs (None: public)."""
    if any(_under(path, prefix) for prefix in PUBLIC_PREFIXES):
        return None
    if any(_under(path, prefix) for prefix in ADMIN_PREFIXES) or path.endswith(ADMIN_SUFFIXES):
        return ADMIN
    if path.startswith("/jobs"):
        return COMPUTE
    return READ if method.upper() in ("GET", "HEAD") else COMPUTE
