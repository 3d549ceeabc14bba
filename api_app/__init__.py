"""The FastAPI application: `uvicorn api_app:app`.

`app` is built on first access (from the environment's settings), so importing submodules such as
`api_app.factory` builds nothing; data loads in the app's startup.
"""

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


@lru_cache(maxsize=1)
def _default_app() -> "FastAPI":
    from common.metrics_folder import prepare_multiprocess
    from common.settings import get_settings

    settings = get_settings()
    prepare_multiprocess(settings)  # before the app's modules create the metrics
    from api_app.factory import create_app

    return create_app(settings)


def __getattr__(name: str) -> "FastAPI":
    if name == "app":
        return _default_app()
    raise AttributeError(f"module 'api_app' has no attribute {name!r}")
