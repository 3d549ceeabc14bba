"""Who is calling: anonymous, an API key or a token subject, with the scopes they hold."""

from dataclasses import dataclass, field

ANONYMOUS = "anonymous"
KEY = "key"
TOKEN = "token"


@dataclass(frozen=True)
class Principal:
    kind: str
    id: str = ""
    name: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)
    rate_limit: str | None = None
    heavy_concurrency: int | None = None

    @property
    def authenticated(self) -> bool:
        return self.kind != ANONYMOUS

    @property
    def caller(self) -> str:
        """The caller as the audit trail and job ownership name it: `key:<id>`, `token:<sub>`, `anonymous`."""
        return f"{self.kind}:{self.id}" if self.authenticated else ANONYMOUS

    def has(self, scope: str | None) -> bool:
        return scope is None or scope in self.scopes
