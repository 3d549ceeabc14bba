"""Access control and fair use: scopes per route, API keys, OIDC bearer tokens, rate limits and heavy-work
caps, security headers."""
