from pydantic import BaseModel, Field
from pydantic.config import JsonDict

from common.accuracy import Scores
from common.requests import ModelRequest, NamedEnum, lists_values, required_if


class Method(NamedEnum):
    linear = "Linear: straight lines between observed years"
    nearest = "Nearest: the value of the closest observed year"
    zero = "Zero: step function (previous observed value)"
    slinear = "Spline of first order (scipy)"
    quadratic = "Spline of second order (scipy)"
    cubic = "Spline of third order (scipy)"
    spline = "Smoothing spline of order d (scipy UnivariateSpline)"
    polynomial = "Polynomial spline of order d"
    piecewise_polynomial = "Piecewise polynomial (scipy, from derivatives)"
    pchip = "Shape-preserving piecewise cubic Hermite (PCHIP)"
    akima = "Akima spline"
    cubicspline = "Cubic spline (scipy CubicSpline)"


class Direction(NamedEnum):
    forward = "Fill the gaps after the first observed year (trailing years: the last observed value)"
    backward = "Fill the gaps before the last observed year (leading years: the first observed value)"
    both = "Fill every gap (years outside the observed span: the nearest observed value)"


EXAMPLE: JsonDict = {
    "target": "wdi-EG.ELC.ACCS.ZS",
    "country": "CUB",
    "method": "linear",
    "direction": "both",
}


class ImputeRequest(ModelRequest):
    target: str = Field(
        title="Indicator whose values will be imputed",
        description="Indicator code; GET /statimpute/targets lists them.",
        examples=["wdi-EG.ELC.ACCS.ZS"],
        max_length=200,
        json_schema_extra=lists_values("/targets"),
    )
    country: str = Field(
        title="ISO3 code of the SIDS country to be imputed",
        description="GET /statimpute/countries?target= lists the countries with data.",
        examples=["CUB"],
        max_length=3,
        json_schema_extra=lists_values("/countries"),
    )
    method: Method = Field(title="Method for time-series interpolation", examples=["linear"])
    direction: Direction = Field(
        Direction.both, title="Direction of the interpolation in time", examples=["both"]
    )
    d: int | None = Field(
        None,
        ge=1,
        le=3,
        title="Order of the polynomials (1, 2 or 3)",
        description="Required for spline and polynomial; ignored otherwise.",
        examples=[2],
        json_schema_extra=required_if(method=[Method.spline, Method.polynomial]),
    )

    model_config = {
        "json_schema_extra": {
            "examples": [EXAMPLE, {**EXAMPLE, "country": "JAM", "method": "spline", "d": 3}]
        }
    }


class SplitSeries(BaseModel):
    index: list[list[str]] = Field(description="One row: [target, country].")
    columns: list[int] = Field(description="Years with a value after imputation.")
    data: list[list[float]] = Field(description="One row of values, aligned with `columns`.")


class ClippedYear(BaseModel):
    year: str
    raw: float = Field(
        description="The method's value before it was clipped to the indicator's plausible range."
    )


class ImputeResponse(BaseModel):
    missing_years: list[str] = Field(description="Years that were missing and are now filled.")
    imputed_series: SplitSeries = Field(description="Observed and imputed values (pandas split orient).")
    clipped: list[ClippedYear] = Field(
        description="Filled years whose value the method put outside the indicator's plausible range "
        "(SPEC §5.7) and that were clipped to it; empty when none."
    )


MIN_FOLDS, MAX_FOLDS = 2, 10


class BacktestRequest(ImputeRequest):
    folds: int = Field(
        5,
        ge=MIN_FOLDS,
        le=MAX_FOLDS,
        title="Folds",
        description=f"Folds ({MIN_FOLDS}–{MAX_FOLDS}) the observed years are hidden in, one fold at a time.",
    )

    model_config = {"json_schema_extra": {"examples": [{**EXAMPLE, "folds": 5}]}}


class BacktestYear(BaseModel):
    year: int
    fold: int
    truth: float
    prediction: float | None = Field(description="The method's value (null: the method left the year empty).")
    lower: float | None
    upper: float | None
    series_mean: float = Field(description="Mean of the years not hidden in this fold.")
    linear: float = Field(description="Linear interpolation of the years not hidden, flat at the ends.")


class BacktestResponse(BaseModel):
    target: str
    country: str
    method: str
    folds: int
    scores: dict[str, Scores] = Field(
        description="`model` (the requested method), `series_mean` and `linear` baselines, on the same folds."
    )
    years: list[BacktestYear]
    not_predicted: list[int] = Field(description="Hidden years the method left empty (not scored).")
