"""What a request costs against its caller's rate limit: a listing 1, a model call RATE_COST_COMPUTE, heavy
work (twolvlImp with AFS feature selection or the iterative imputer, a backtest, a batch) RATE_COST_HEAVY."""

import json

HEAVY_ROUTE_WORDS = ("backtest", "batch")
HEAVY_FIELDS = {"scheme": "AFS", "interpolator": "IterativeImputer"}


def is_heavy(method: str, path: str, body: bytes) -> bool:
    if method != "POST":
        return False
    if any(word in path.lower() for word in HEAVY_ROUTE_WORDS):
        return True
    if not body or not body.lstrip().startswith(b"{"):
        return False
    try:
        fields = json.loads(body)
    except ValueError:
        return False
    return isinstance(fields, dict) and any(fields.get(k) == v for k, v in HEAVY_FIELDS.items())


def request_cost(method: str, heavy: bool, compute_cost: int, heavy_cost: int) -> int:
    if heavy:
        return heavy_cost
    return 1 if method in ("GET", "HEAD") else compute_cost
