"""OIDC bearer tokens (Microsoft Entra ID in production): signature against the issuer's JWKS, then
`iss`, `aud`, `exp` and `nbf`; scopes from the `scp` (space-separated) and `roles` claims through
OIDC_SCOPE_MAP. PyJWKClient caches the key set and refetches it when a token names an unknown `kid`
(key rotation). PyJWT is imported when a verifier is made (OIDC_ISSUER set)."""

from api_app.security.principal import TOKEN, Principal

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
LEEWAY_SECONDS = 30


class TokenRefused(Exception):
    """Why a bearer token was not accepted (safe to show: it names no secret)."""


class TokenVerifier:
    def __init__(
        self,
        issuer: str,
        audience: str | None,
        jwks_url: str,
        scope_map: dict[str, str],
        refresh_cooldown: float = 30.0,
    ) -> None:
        """Without an `audience` (allowed outside production) every token is refused: `aud` is required."""
        self.issuer = issuer
        self.audience = audience
        self.scope_map = scope_map
        import jwt

        self.jwks = jwt.PyJWKClient(
            jwks_url, cache_keys=True, lifespan=3600, timeout=5, cooldown_duration=refresh_cooldown
        )

    def verify(self, token: str) -> Principal:
        """The token's principal (blocking: may fetch the JWKS); TokenRefused when it is not valid."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"malformed token: {exc}") from None
        if header.get("alg") not in ALGORITHMS:
            raise TokenRefused(f"token algorithm {header.get('alg')!r} is not accepted")
        try:
            signing_key = self.jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError:
            raise TokenRefused("the issuer's signing keys cannot be fetched now") from None
        except jwt.PyJWTError:
            raise TokenRefused("the token's signing key (kid) is not among the issuer's keys") from None
        try:
            claims = jwt.decode(
                token,
                signing_key.key,
                algorithms=[header["alg"]],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRefused("the token is not valid yet (nbf)") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused("the token comes from another issuer") from None
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"invalid token: {exc}") from None
        granted = [*str(claims.get("scp", "")).split(), *(claims.get("roles") or [])]
        scopes = frozenset(self.scope_map[value] for value in granted if value in self.scope_map)
        subject = str(claims["sub"])[:150]
        return Principal(
            kind=TOKEN,
            id=subject,
            name=str(claims.get("name") or claims.get("azp") or subject)[:100],
            scopes=scopes,
        )
