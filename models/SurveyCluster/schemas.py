from pydantic import BaseModel, Field

from common.requests import ModelRequest
from models.SurveyCluster.survey import MAX_ROWS

Answer = str | int | float | bool | None
Table = dict[str, list[Answer] | dict[str, Answer]] | list[dict[str, Answer]]
"""Columns ({question: [answers]}, the replaced system's form) or rows ([{question: answer}])."""
MAX_K = 20

EXAMPLE_ROWS = slice(30, 42)
"""The example data are rows 31–42 (IDs 31–42) of the shipped Malawi water survey."""
EXAMPLE_DATA: dict[str, list[Answer]] = {
    "household_size": [6, 5, 4, 3, 8, 8, 3, 4, 3, 3, 5, 4],
    "main_water_source": ["Borehole or tubewell", "Borehole or tubewell", "Unprotected dug well",
                          "Borehole or tubewell", "Borehole or tubewell", "Borehole or tubewell",
                          "Borehole or tubewell", "Borehole or tubewell", "Unprotected dug well",
                          "Borehole or tubewell", "Borehole or tubewell", "Borehole or tubewell"],
    "waterpoint_functional_status": ["Functional", "Functional", None, "Functional", "Functional",
                                     "Functional", "Functional", "Functional", None, "Functional",
                                     "Functional", "Functional"],
    "water_collection_time_minutes": [20.0, 5.0, None, 30.0, 5.0, 30.0, 5.0, 15.0, None, 7.0, 30.0, 5.0],
    "longitude": [35.287, 35.288, 35.29, 35.31, 35.287, 35.313, 35.287, 35.288, 35.285, 35.288, 35.287, 35.288],
    "latitude": [-15.488, -15.486, -15.489, -15.379, -15.486, -15.381, -15.486, -15.486, -15.484, -15.485,
                 -15.488, -15.486],
}
EXAMPLE_METADATA: list[dict[str, Answer]] = [
    {"Question Name": "household_size", "Type": "continuous", "Factor": "Household size"},
    {"Question Name": "main_water_source", "Type": "categorical", "Factor": "Water access"},
    {"Question Name": "waterpoint_functional_status", "Type": "categorical", "Factor": "Water access"},
    {"Question Name": "water_collection_time_minutes", "Type": "continuous", "Factor": "Water access"},
    {"Question Name": "longitude", "Type": "GPS longitude", "Factor": None},
    {"Question Name": "latitude", "Type": "GPS latitude", "Factor": None},
]


class SurveyClusterRequest(ModelRequest):
    data: Table = Field(
        title="Survey answers",
        description="An object of columns ({question: [answers]}, all the same length) or a list of "
                    f"row objects ({{question: answer}}). At most {MAX_ROWS} rows.")
    metadata: Table = Field(
        title="Question metadata",
        description="Rows (or columns) with `Question Name`, `Type` (categorical, continuous, "
                    "GPS longitude, GPS latitude) and `Factor`.")
    factor: str = Field(title="Factor to be clustered", description="One of the metadata's Factor values.",
                        examples=["Water access"], max_length=200)
    max_k: int = Field(title="Maximum number of clusters expected", ge=1, le=MAX_K, examples=[10],
                       description=f"k is chosen by the elbow method over 1..max_k (1 to {MAX_K}).")

    model_config = {"json_schema_extra": {"examples": [
        {"data": EXAMPLE_DATA, "metadata": EXAMPLE_METADATA, "factor": "Water access", "max_k": 5}]}}


class SurveyClusterResponse(BaseModel):
    cluster_label: list[int] = Field(
        description="Cluster of each kept row (rows with GPS coordinates), in input order; 0-based, "
                    "numbered in order of first appearance.")
    rows: list[int] = Field(description="0-based positions in `data` of the kept rows.")
    k: int = Field(description="Number of clusters chosen by the elbow method.")
    algorithm: str = Field(description="k-modes, k-means or k-prototypes, by the factor's question types.")
    costs: list[float] = Field(description="Clustering cost for k = 1, 2, … (the elbow curve).")
