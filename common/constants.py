"""Fixed facts of the product."""

SIDS: tuple[str, ...] = (
    "ATG", "ABW", "BHS", "BMU", "BHR", "BRB", "BLZ", "VGB", "CPV", "CYM", "COM", "CUB", "CUW",
    "DMA", "DOM", "FJI", "GRD", "GNB", "GUY", "HTI", "JAM", "KIR", "MDV", "MHL", "MUS", "FSM",
    "NRU", "PLW", "PNG", "WSM", "STP", "SYC", "SGP", "SXM", "SLB", "KNA", "VCT", "LCA", "SUR",
    "TLS", "TTO", "TON", "TUV", "TCA", "VUT", "AIA", "COK", "MSR", "TKL", "NIU",
)
SIDS_SET: frozenset[str] = frozenset(SIDS)

MAIN_ENDPOINT_TAG = "x-main-endpoint"
"""Put `openapi_extra={MAIN_ENDPOINT_TAG: True}` on a model's main endpoint; /params lists it."""

DEFAULT_CORS_ORIGINS: tuple[str, ...] = (
    "https://sids-dashboard.github.io",
    "https://lenseg.github.io",
    "https://data.undp.org",
    "http://localhost",
    "http://localhost:8080",
)
