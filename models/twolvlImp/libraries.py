"""The libraries twolvlImp computes with (scikit-learn, SciPy, joblib, threadpoolctl). Its modules import
them inside the functions that use them, so importing the app loads none of them (issue 18); the
model's COMPUTE_WARMUP calls `load_libraries` (through `service.thread_pools`) so that a ready server
answers the first request without paying for the imports."""

import importlib

MODULES = (
    "joblib",
    "scipy.interpolate",
    "sklearn.decomposition",
    "sklearn.ensemble",
    "sklearn.experimental.enable_iterative_imputer",
    "sklearn.impute",
    "sklearn.metrics.pairwise",
    "sklearn.model_selection",
    "sklearn.preprocessing",
    "threadpoolctl",
)
"""Every module a predict, estimate or backtest of twolvlImp imports."""


def load_libraries() -> None:
    for name in MODULES:
        importlib.import_module(name)
