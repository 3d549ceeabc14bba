"""The audit trail: a batched, spooled writer (`writer`), the middleware that records requests and
`GET /audit`."""
