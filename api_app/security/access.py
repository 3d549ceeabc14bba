"""The access check every API route runs (an app-wide FastAPI dependency): who calls, whether they hold the
route's scope, and whether their fair-use budget allows the request. What it decides is left in the
request state for the response headers, job ownership and the audit trail."""

import asyncio
import logging

from fastapi import Request

from api_app.security.clients import client_address
from api_app.security.cost import is_heavy, request_cost
from api_app.security.fair_use import ANONYMOUS_POOL, HeavyLeases, RateLimits
from api_app.security.keys import KeyStore
from api_app.security.principal import ANONYMOUS, Principal
from api_app.security.scopes import required_scope
from api_app.security.tokens import TokenRefused, TokenVerifier
from common.errors import Forbidden, TooManyRequests, Unauthorized, Unavailable
from common.jobs import Executor
from common.jobs.types import TERMINAL
from common.settings import SCOPES, Settings

log = logging.getLogger(__name__)
UNRESTRICTED = Principal(kind=ANONYMOUS, scopes=frozenset(SCOPES))
"""Every caller when AUTH_MODE=off."""
CHALLENGE = {"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'}


class AccessControl:
    def __init__(self, settings: Settings, keys: KeyStore) -> None:
        self.settings = settings
        self.keys = keys
        self.enabled = settings.auth_enabled
        self.verifier: TokenVerifier | None = None
        if settings.oidc_issuer:
            if not settings.oidc_jwks_url:
                # Outside production Settings lets this through; the JWKS client could not be made.
                raise ValueError("OIDC_ISSUER needs OIDC_JWKS_URL")
            self.verifier = TokenVerifier(
                settings.oidc_issuer,
                settings.oidc_audience,
                settings.oidc_jwks_url,
                settings.scope_map,
                settings.oidc_jwks_cooldown_seconds,
            )
        redis_url = settings.redis_url
        self.rates = RateLimits(redis_url)
        self.leases = HeavyLeases(redis_url, settings.compute_timeout_seconds)

    async def identify(self, request: Request) -> Principal:
        key = request.headers.get("x-api-key")
        if key:
            try:
                principal = await asyncio.to_thread(self.keys.verify, key)
            except Exception as exc:
                log.error("API key check failed: %s", exc)
                raise Unavailable(
                    "API keys cannot be checked right now (the key database is unreachable); retry shortly.",
                    headers={"Retry-After": "5"},
                ) from None
            if principal is None:
                raise Unauthorized(
                    "The API key is not valid (unknown, revoked or expired).", headers=CHALLENGE
                )
            return principal
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            if self.verifier is None:
                raise Unauthorized(
                    "Bearer tokens are not accepted here (no OIDC issuer is configured); use an X-API-Key.",
                    headers=CHALLENGE,
                )
            try:
                return await asyncio.to_thread(self.verifier.verify, token.strip())
            except TokenRefused as exc:
                raise Unauthorized(f"The bearer token was refused: {exc}.", headers=CHALLENGE) from None
        if authorization:
            raise Unauthorized("The Authorization header must be `Bearer <token>`.", headers=CHALLENGE)
        return Principal(kind=ANONYMOUS, scopes=frozenset(self.settings.anonymous_scopes))

    async def _job_finished(self, request: Request, job_id: str) -> bool:
        executor: Executor = request.app.state.jobs
        view = await executor.get(job_id)
        return view is None or view.status in TERMINAL

    async def check(self, request: Request) -> None:
        path = getattr(request.scope.get("route"), "path", None)
        if path is None:
            path = request.url.path
        scope = required_scope(request.method, path)
        state = request.state
        state.required_scope = scope
        if scope is None:
            return
        state.client = client_address(request.scope, self.settings.trusted_proxies)
        if not self.enabled:
            state.principal = UNRESTRICTED
            return
        state.denial = "invalid_credentials"
        principal = await self.identify(request)
        state.principal = principal
        state.denial = f"missing_scope:{scope}"
        if not principal.has(scope):
            if principal.authenticated:
                raise Forbidden(
                    f"This route needs the `{scope}` scope; your credentials hold "
                    f"{', '.join(sorted(principal.scopes)) or 'none'}."
                )
            raise Unauthorized(
                f"This route needs the `{scope}` scope: send an X-API-Key or a bearer token that grants it.",
                headers=CHALLENGE,
            )
        state.denial = None
        state.job_owner = principal.caller if principal.authenticated else None
        await self._budget(request, principal, path)

    async def _budget(self, request: Request, principal: Principal, path: str) -> None:
        settings = self.settings
        heavy = is_heavy(request.method, path, await request.body() if request.method == "POST" else b"")
        caller = principal.caller if principal.authenticated else f"ip:{request.state.client}"
        limit = principal.rate_limit or (
            settings.rate_limit_authenticated if principal.authenticated else settings.rate_limit_anonymous
        )
        cost = request_cost(request.method, heavy, settings.rate_cost_compute, settings.rate_cost_heavy)
        verdict = await self.rates.hit(limit, caller, cost)
        if verdict is not None:
            request.state.rate_headers = verdict.headers()
            if not verdict.allowed:
                request.state.denial = "rate_limited"
                raise TooManyRequests(
                    f"Rate limit of {limit} (cost units) reached for this caller; this request "
                    f"costs {cost}. Retry after {verdict.headers()['Retry-After']} s.",
                    headers=verdict.headers(),
                )
        if not heavy:
            return
        holders = {caller: principal.heavy_concurrency or settings.heavy_concurrency_per_caller}
        if not principal.authenticated:
            holders[ANONYMOUS_POOL] = settings.heavy_concurrency_anonymous
        lease = await self.leases.acquire(holders, lambda job_id: self._job_finished(request, job_id))
        if lease is None:
            request.state.denial = "heavy_concurrency"
            raise TooManyRequests(
                "Too much heavy work (AFS/IterativeImputer, backtests, batches) is already "
                "running for this caller"
                + ("" if principal.authenticated else " or for anonymous callers together")
                + "; wait for it to finish, or use an API key.",
                headers={"Retry-After": "5"},
            )
        request.state.heavy_lease = (list(holders), lease)

    async def close(self) -> None:
        await self.leases.close()


async def authorize(request: Request) -> None:
    """The app-wide dependency: every API route runs the access check."""
    await request.app.state.access.check(request)
