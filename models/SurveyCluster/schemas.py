import math
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

from pydantic import AfterValidator, BaseModel, Discriminator, Field, Tag, WithJsonSchema
from pydantic.config import JsonDict, JsonValue
from pydantic_core import PydanticCustomError

from common.requests import ModelRequest
from models.SurveyCluster.survey import MAX_COLUMNS, MAX_ROWS

MAX_ANSWER_CHARS = 10_000
MAX_WHOLE_NUMBER = 10**15
MAX_METADATA_FIELDS = 50


ANSWER_SCHEMA = {
    "anyOf": [
        {"type": "string", "maxLength": MAX_ANSWER_CHARS},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
    ]
}
Answer = Annotated[Any, WithJsonSchema(ANSWER_SCHEMA)]
"""One answer: text, a finite number, true/false or null; checked by `check_answers` in one pass over
the table (a validator per answer would cost seconds on a large survey)."""


def _answer_problem(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return None if len(value) <= MAX_ANSWER_CHARS else f"a text of {len(value)} characters"
    if isinstance(value, int):
        return None if abs(value) <= MAX_WHOLE_NUMBER else f"a number of {len(str(value))} digits"
    if isinstance(value, float):
        return None if math.isfinite(value) else repr(value)
    return f"a {type(value).__name__}"


def _looks_valid(values: list) -> bool:
    """A fast check (C-level loops) that passes the usual columns of numbers or texts with gaps."""
    kinds = set(map(type, values))
    try:
        if kinds <= {float, int, bool, type(None)}:
            numbers = [v for v in values if v is not None] if type(None) in kinds else values
            return all(map(math.isfinite, numbers)) and (
                int not in kinds or max(map(abs, numbers), default=0) <= MAX_WHOLE_NUMBER
            )
        if kinds <= {str, bool, type(None)}:
            return max((len(v) for v in values if type(v) is str), default=0) <= MAX_ANSWER_CHARS
    except OverflowError:
        return False
    return False


def _groups(table: Any):
    """(question or None, {row: answer}) groups of a validated table: its columns, or its rows."""
    if isinstance(table, dict):
        for question, column in table.items():
            yield question, column if isinstance(column, dict) else dict(enumerate(column))
    else:
        for row, answers in enumerate(table):
            yield None, {(row, question): value for question, value in answers.items()}


def check_answers(table: Any) -> Any:
    """Refuse NaN, Infinity, 1e400, huge whole numbers, over-long texts and nested values."""
    bad = []
    for question, cells in _groups(table):
        if _looks_valid(list(cells.values())):
            continue
        for key, value in cells.items():
            if problem := _answer_problem(value):
                bad.append((question, key, problem) if question is not None else (key[1], key[0], problem))
    if bad:
        question, row, problem = bad[0]
        raise PydanticCustomError(
            "survey_answer",
            "the answer to {question} in row {row} is {problem}; an answer must be text "
            "(up to {chars} characters), a finite number (whole numbers up to 10^15), true/false or null"
            "{more}",
            {
                "question": question,
                "row": row,
                "problem": problem[:60],
                "chars": MAX_ANSWER_CHARS,
                "more": f" ({len(bad)} answers are invalid)" if len(bad) > 1 else "",
            },
        )
    return table


def _shape(value: Any) -> str:
    return "columns" if isinstance(value, dict) else "rows"


def _column_shape(value: Any) -> str:
    return "keyed" if isinstance(value, dict) else "list"


def table(max_rows: int, max_columns: int) -> Any:
    """Columns ({question: [answers]}, the replaced system's form) or rows ([{question: answer}]),
    both bounded, so validation stops at the first row or column too many."""
    row = Annotated[dict[str, Answer], Field(max_length=max_columns)]
    column = Annotated[
        Annotated[list[Answer], Field(max_length=max_rows), Tag("list")]
        | Annotated[dict[str, Answer], Field(max_length=max_rows), Tag("keyed")],
        Discriminator(_column_shape),
    ]
    return Annotated[
        Annotated[dict[str, column], Field(max_length=max_columns), Tag("columns")]
        | Annotated[list[row], Field(max_length=max_rows), Tag("rows")],
        Discriminator(_shape),
        AfterValidator(check_answers),
    ]


if TYPE_CHECKING:
    # What a validated table is; its bounds and shape discriminator exist only at run time.
    Table: TypeAlias = dict[str, list[Answer] | dict[str, Answer]] | list[dict[str, Answer]]
    MetadataTable: TypeAlias = Table
else:
    Table = table(MAX_ROWS, MAX_COLUMNS)
    MetadataTable = table(MAX_COLUMNS, MAX_METADATA_FIELDS)
MAX_K = 20

# The example data are rows 31–42 (IDs 31–42) of the shipped Malawi water survey.
EXAMPLE_DATA: JsonDict = {
    "household_size": [6, 5, 4, 3, 8, 8, 3, 4, 3, 3, 5, 4],
    "main_water_source": [
        "Borehole or tubewell",
        "Borehole or tubewell",
        "Unprotected dug well",
        "Borehole or tubewell",
        "Borehole or tubewell",
        "Borehole or tubewell",
        "Borehole or tubewell",
        "Borehole or tubewell",
        "Unprotected dug well",
        "Borehole or tubewell",
        "Borehole or tubewell",
        "Borehole or tubewell",
    ],
    "waterpoint_functional_status": [
        "Functional",
        "Functional",
        None,
        "Functional",
        "Functional",
        "Functional",
        "Functional",
        "Functional",
        None,
        "Functional",
        "Functional",
        "Functional",
    ],
    "water_collection_time_minutes": [20.0, 5.0, None, 30.0, 5.0, 30.0, 5.0, 15.0, None, 7.0, 30.0, 5.0],
    "longitude": [
        35.287,
        35.288,
        35.29,
        35.31,
        35.287,
        35.313,
        35.287,
        35.288,
        35.285,
        35.288,
        35.287,
        35.288,
    ],
    "latitude": [
        -15.488,
        -15.486,
        -15.489,
        -15.379,
        -15.486,
        -15.381,
        -15.486,
        -15.486,
        -15.484,
        -15.485,
        -15.488,
        -15.486,
    ],
}
EXAMPLE_METADATA: list[JsonValue] = [
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
        "answers are text, finite numbers, true/false or null.",
    )
    metadata: MetadataTable = Field(
        title="Question metadata",
        description="Rows (or columns) with `Question Name`, `Type` (categorical, continuous, "
        f"GPS longitude, GPS latitude) and `Factor`. At most {MAX_COLUMNS} questions.",
    )
    factor: str = Field(
        title="Factor to be clustered",
        description="One of the metadata's Factor values.",
        examples=["Water access"],
        max_length=200,
    )
    max_k: int = Field(
        title="Maximum number of clusters expected",
        ge=1,
        le=MAX_K,
        examples=[10],
        description=f"k is chosen by the elbow method over 1..max_k (1 to {MAX_K}).",
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"data": EXAMPLE_DATA, "metadata": EXAMPLE_METADATA, "factor": "Water access", "max_k": 5}
            ]
        }
    }


class SurveyClusterResponse(BaseModel):
    cluster_label: list[int] = Field(
        description="Cluster of each kept row (rows with GPS coordinates), in input order; 0-based, "
        "numbered in order of first appearance."
    )
    rows: list[int] = Field(description="0-based positions in `data` of the kept rows.")
    k: int = Field(description="Number of clusters chosen by the elbow method.")
    algorithm: str = Field(description="k-modes, k-means or k-prototypes, by the factor's question types.")
    costs: list[float] = Field(description="Clustering cost for k = 1, 2, … (the elbow curve).")
