"""Sentiment classifier (texts → negative/positive), served from the model store.

Versions live in `MODEL_STORE_PATH/sentiment/<version>/`; see docs/artifacts.md.
"""

from models._artifacts.examples.sentiment import SPEC
from models._artifacts.router import artifact_router, health

REQUIRED_DATA = ("model_store",)
HEALTH = health(SPEC)
router = artifact_router(SPEC)
