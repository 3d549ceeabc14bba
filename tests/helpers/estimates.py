"""Cost features of twolvlImp requests, for the tests of `POST /twolvlImp/estimate` and its bench tools."""

from models.twolvlImp.estimate import CostFeatures

SIMPLE = CostFeatures(
    scheme="MANUAL",
    model="rfr",
    interpolator="KNNImputer",
    estimators=10,
    candidates=378,
    selected=1,
    training_rows=210,
    cached=True,
)
"""The simple request's (`SIMPLE_EXAMPLE`: one chosen predictor, a 10-tree forest), matrices cached."""
