"""Loads each dataset once per process and shares it between models; knows nothing of HTTP.

A model package names what it needs in `REQUIRED_RESOURCES` (keys of `LOADERS`); the app loads each
needed resource once at startup and hands it to endpoints through `common.resources.use_resource`.
"""

from collections.abc import Callable
from typing import Any

from common.settings import Settings
from shared_dataloader.errors import DatasetError
from shared_dataloader.indicators import IndicatorDataset, load_indicator_dataset
from shared_dataloader.survey import SurveySample, load_survey_sample


def _load_model_store(settings: Settings) -> Any:
    # The store belongs to the trained-artifact subsystem, which itself imports this package's errors.
    # Isolated: a new artifact is first deserialized in a child process, never in the serving one.
    from models._artifacts.store import load_model_store
    from shared_dataloader.data_cache import BUNDLED_CACHE_DIR

    return load_model_store(
        settings.model_store_path, [settings.data_cache_dir, BUNDLED_CACHE_DIR], isolated=True
    )


LOADERS: dict[str, Callable[[Settings], Any]] = {
    "indicators": lambda settings: load_indicator_dataset(settings.dataset_path, settings.data_cache_dir),
    "survey": lambda settings: load_survey_sample(settings.dataset_path),
    "model_store": _load_model_store,
}

__all__ = [
    "LOADERS",
    "DatasetError",
    "IndicatorDataset",
    "SurveySample",
    "load_indicator_dataset",
    "load_survey_sample",
]
