"""Loads each dataset once per process and shares it between models; knows nothing of HTTP.

A model package names what it needs in `REQUIRED_DATA` (keys of `LOADERS`); the app loads each
needed resource once at startup and hands it to endpoints through `common.resources.use_resource`.
"""

from collections.abc import Callable
from typing import Any

from common.settings import Settings
from shared_dataloader.errors import DatasetError
from shared_dataloader.indicators import IndicatorDataset, load_indicator_dataset
from shared_dataloader.model_store import load_model_store
from shared_dataloader.survey import SurveySample, load_survey_sample

LOADERS: dict[str, Callable[[Settings], Any]] = {
    "indicators": lambda settings: load_indicator_dataset(settings.dataset_path, settings.data_cache_dir),
    "survey": lambda settings: load_survey_sample(settings.dataset_path),
    "model_store": lambda settings: load_model_store(settings.model_store_path),
}

__all__ = [
    "LOADERS",
    "DatasetError",
    "IndicatorDataset",
    "SurveySample",
    "load_indicator_dataset",
    "load_survey_sample",
]
