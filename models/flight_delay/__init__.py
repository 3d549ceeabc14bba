"""Flight-delay classifier (schedule, route, origin weather → on_time/delayed), served from the
model store. Versions live in `MODEL_STORE_PATH/flight_delay/<version>/`; the contract is `spec.py`,
the training `training.py`; see docs/artifacts.md.
"""

from models._artifacts.router import artifact_router, compute_warm_up, health, warm_up
from models.flight_delay.spec import SPEC

REQUIRED_RESOURCES = ("model_store",)
HEALTH = health(SPEC)
WARMUP = warm_up(SPEC)
COMPUTE_WARMUP = compute_warm_up(SPEC)
router = artifact_router(SPEC)
