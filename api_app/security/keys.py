"""API keys: `sids_<id>_<secret>`, stored only as a salted SHA-256 of the secret.

The id finds the row; the secret is compared in constant time. A verified key is trusted for at most
API_KEY_CACHE_SECONDS, so a request does not pay for a database read and a revoked key stops working
within that time (at once in the process that revoked it).
"""

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict, overload

from sqlalchemy import Engine, Row, insert, select, update

from api_app.database.tables import api_keys
from api_app.security.principal import KEY, Principal
from common.settings import SCOPES

PREFIX = "sids"
ID_BYTES = 8
SECRET_BYTES = 32


class InvalidKeyRequest(ValueError):
    """A key request that cannot be honoured (empty name, unknown scope); `field` names the culprit."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class KeyRecord(TypedDict):
    """A key's record as JSON-ready values (timestamps in ISO 8601)."""

    id: str
    name: str
    scopes: list[str]
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    rate_limit: str | None
    heavy_concurrency: int | None


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rate_limit: str | None
    heavy_concurrency: int | None

    def as_dict(self) -> KeyRecord:
        return {
            "id": self.id,
            "name": self.name,
            "scopes": list(self.scopes),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "rate_limit": self.rate_limit,
            "heavy_concurrency": self.heavy_concurrency,
        }


@overload
def _utc(value: datetime) -> datetime: ...
@overload
def _utc(value: datetime | None) -> datetime | None: ...
def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def parse_scopes(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    items = text.split(",") if isinstance(text, str) else list(text)
    scopes = tuple(dict.fromkeys(s.strip() for s in items if s.strip()))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise InvalidKeyRequest(
            f"scopes must be a non-empty list among {', '.join(SCOPES)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
            "scopes",
        )
    return scopes


def split_key(presented: str) -> tuple[str, str] | None:
    parts = presented.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != ID_BYTES * 2:
        return None
    return parts[1], parts[2]


def _info(row: Row[Any]) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        name=row.name,
        scopes=tuple(row.scopes.split(",")),
        created_at=_utc(row.created_at),
        expires_at=_utc(row.expires_at),
        revoked_at=_utc(row.revoked_at),
        rate_limit=row.rate_limit,
        heavy_concurrency=row.heavy_concurrency,
    )


class KeyStore:
    """Create, list, revoke and verify keys in the database (blocking calls: run them off the loop)."""

    def __init__(self, engine: Engine, cache_seconds: float = 60.0) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, str, Principal]] = {}
        self._lock = threading.Lock()

    def create(
        self,
        name: str,
        scopes: str | list[str],
        expires_at: datetime | None = None,
        rate_limit: str | None = None,
        heavy_concurrency: int | None = None,
    ) -> tuple[KeyInfo, str]:
        """A new key: its record and the key itself (shown once, never stored)."""
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidKeyRequest("name must be 1 to 100 characters (not only spaces)", "name")
        key_id, secret, salt = (
            secrets.token_hex(ID_BYTES),
            secrets.token_urlsafe(SECRET_BYTES),
            secrets.token_hex(16),
        )
        row = {
            "id": key_id,
            "name": name,
            "salt": salt,
            "secret_hash": _digest(salt, secret),
            "scopes": ",".join(parse_scopes(scopes)),
            "created_at": datetime.now(UTC),
            "expires_at": _utc(expires_at),
            "revoked_at": None,
            "rate_limit": rate_limit,
            "heavy_concurrency": heavy_concurrency,
        }
        with self.engine.begin() as connection:
            connection.execute(insert(api_keys).values(**row))
        info = self.get(key_id)
        assert info is not None, "the key was inserted just now"
        return info, f"{PREFIX}_{key_id}_{secret}"

    def get(self, key_id: str) -> KeyInfo | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        return _info(row) if row is not None else None

    def list(self) -> list[KeyInfo]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(api_keys).order_by(api_keys.c.created_at)).all()
        return [_info(row) for row in rows]

    def revoke(self, key_id: str) -> KeyInfo | None:
        with self.engine.begin() as connection:
            connection.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        with self._lock:
            self._cache.pop(key_id, None)
        return self.get(key_id)

    def verify(self, presented: str) -> Principal | None:
        """The key's principal, or None for an unknown, wrong, revoked or expired key."""
        parts = split_key(presented)
        if parts is None:
            return None
        key_id, secret = parts
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None and cached[0] > now:
            _, digest, principal = cached
            return (
                principal
                if hmac.compare_digest(digest, hashlib.sha256(secret.encode()).hexdigest())
                else None
            )
        with self.engine.connect() as connection:
            row = connection.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None or not hmac.compare_digest(row.secret_hash, _digest(row.salt, secret)):
            return None
        expires = _utc(row.expires_at)
        if row.revoked_at is not None or (expires is not None and expires <= datetime.now(UTC)):
            return None
        principal = Principal(
            kind=KEY,
            id=row.id,
            name=row.name,
            scopes=frozenset(row.scopes.split(",")),
            rate_limit=row.rate_limit,
            heavy_concurrency=row.heavy_concurrency,
        )
        ttl = self.cache_seconds
        if expires is not None:
            ttl = min(ttl, (expires - datetime.now(UTC)).total_seconds())
        if ttl > 0:
            with self._lock:
                self._cache[key_id] = (now + ttl, hashlib.sha256(secret.encode()).hexdigest(), principal)
        return principal
