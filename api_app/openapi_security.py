"""The security part of the OpenAPI document: schemes for Swagger's Authorize button, and on every
operation the scope it needs (`x-required-scope`, `security`, a line in its description, 401/403/429)."""

from typing import Any

from api_app.security.scopes import SCOPE_DESCRIPTIONS, required_scope
from common.settings import Settings

SCHEMES = {
    "ApiKeyAuth": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key from `python -m api_app.keys create` or `POST /keys`.",
    },
    "BearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from the configured OIDC issuer (Microsoft Entra ID); scopes "
        "come from its `scp`/`roles` claims.",
    },
}
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


def document_security(schema: dict[str, Any], settings: Settings, error_content: dict[str, Any]) -> None:
    schema.setdefault("components", {})["securitySchemes"] = SCHEMES
    anonymous = set(settings.anonymous_scopes) if settings.auth_enabled else {"read", "compute", "admin"}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in HTTP_METHODS:
                continue
            scope = required_scope(method, path)
            operation["x-required-scope"] = scope
            if scope is None:
                operation["security"] = []
                continue
            operation["security"] = [{"ApiKeyAuth": []}, {"BearerAuth": []}] + (
                [{}] if scope in anonymous else []
            )
            note = f"**Scope:** `{scope}` ({SCOPE_DESCRIPTIONS[scope]})" + (
                "; anonymous callers hold it here." if scope in anonymous else "."
            )
            operation["description"] = (operation.get("description", "") + "\n\n" + note).strip()
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                "401", {"description": "No valid credentials for this scope.", "content": error_content}
            )
            responses.setdefault(
                "403", {"description": "The credentials lack this scope.", "content": error_content}
            )
            responses.setdefault(
                "429",
                {
                    "description": "Over the caller's rate limit or heavy-work cap; see `Retry-After`.",
                    "content": error_content,
                },
            )
