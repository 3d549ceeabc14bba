"""Flight-delay classifier (schedule, route, origin weather → on_time/delayed), served from the
model store. Versions live in `MODEL_STORE_PATH/flight_delay/<version>/`; see docs/artifacts.md.
"""

from models._artifacts.examples.flight_delay import SPEC
from models._artifacts.router import artifact_router, health

REQUIRED_DATA = ("model_store",)
HEALTH = health(SPEC)
router = artifact_router(SPEC)
