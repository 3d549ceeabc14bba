"""The libraries twolvlImp computes with (scikit-learn, SciPy, joblib, threadpoolctl). Its modules import
them inside the functions that use them, so importing the app loads none of them (issue 18); the
model's WARMUP calls `load_libraries` so that a ready server answers the first request without
paying for the imports."""


def load_libraries() -> None:
    import threadpoolctl  # noqa: F401
