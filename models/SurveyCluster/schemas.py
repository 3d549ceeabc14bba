import math
from typing import Annotated, Any

from pydantic import BaseModel, Discriminator, Field, PlainValidator, Tag
from pydantic_core import PydanticCustomError

from common.requests import ModelRequest
from models.SurveyCluster.survey import MAX_COLUMNS, MAX_ROWS

MAX_ANSWER_CHARS = 10_000
MAX_WHOLE_NUMBER = 10**15
MAX_METADATA_FIELDS = 50


def _answer(value: Any) -> Any:
    """One answer: text, a finite number, true/false or null (NaN, Infinity and 1e400 are refused)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and len(value) <= MAX_ANSWER_CHARS:
        return value
    if isinstance(value, int) and abs(value) <= MAX_WHOLE_NUMBER:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    shown = repr(value) if not isinstance(value, str) else f"a text of {len(value)} characters"
    raise PydanticCustomError(
        "survey_answer", "an answer must be text (up to {chars} characters), a finite number (whole "
        "numbers up to 10^15), true/false or null; got {shown}",
        {"chars": MAX_ANSWER_CHARS, "shown": shown[:60]})


Answer = Annotated[str | int | float | bool | None,
                   PlainValidator(_answer, json_schema_input_type=str | int | float | bool | None)]


def _shape(value: Any) -> str:
    return "columns" if isinstance(value, dict) else "rows"


def _column_shape(value: Any) -> str:
    return "keyed" if isinstance(value, dict) else "list"


def table(max_rows: int, max_columns: int) -> Any:
    """Columns ({question: [answers]}, the replaced system's form) or rows ([{question: answer}]),
    both bounded, so validation stops at the first row or column too many."""
    row = Annotated[dict[str, Answer], Field(max_length=max_columns)]
    column = Annotated[Annotated[list[Answer], Field(max_length=max_rows), Tag("list")]
                       | Annotated[dict[str, Answer], Field(max_length=max_rows), Tag("keyed")],
                       Discriminator(_column_shape)]
    return Annotated[Annotated[dict[str, column], Field(max_length=max_columns), Tag("columns")]
                     | Annotated[list[row], Field(max_length=max_rows), Tag("rows")],
                     Discriminator(_shape)]


Table = table(MAX_ROWS, MAX_COLUMNS)
MetadataTable = table(MAX_COLUMNS, MAX_METADATA_FIELDS)
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
                    f"row objects ({{question: answer}}). At most {MAX_ROWS} rows and {MAX_COLUMNS} questions; "
                    "answers are text, finite numbers, true/false or null.")
    metadata: MetadataTable = Field(
        title="Question metadata",
        description="Rows (or columns) with `Question Name`, `Type` (categorical, continuous, "
                    f"GPS longitude, GPS latitude) and `Factor`. At most {MAX_COLUMNS} questions.")
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
