"""Request and response models of twolvlImp (field names, enum names and shapes as in SPEC §5.1)."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field, SerializeAsAny
from pydantic.config import JsonDict

from common.accuracy import Scores
from common.requests import ModelRequest, NamedEnum, lists_values, required_if

MAX_ESTIMATORS = 500
MAX_PREDICTORS = 40
MIN_FOLDS, MAX_FOLDS = 2, 10
Code = Annotated[str, Field(min_length=1, max_length=200)]


class Interpolator(NamedEnum):
    KNNImputer = "K Nearest Neighbour Interpolation"
    IterativeImputer = "Iterative Imputer Interpolation"
    SimpleImputer = "Simple Interpolation"


class Scheme(NamedEnum):
    AFS = "Automatic Feature Selection"
    PCA = "Principal Component Analysis"
    MANUAL = "Manual Selection"


class Model(NamedEnum):
    rfr = "Random Forest Regressor"
    gbr = "Gradient Boosting Regressor"
    etr = "Extra Trees Regressor"
    all = "Best of the three (by cross-validated error)"


class Interval(NamedEnum):
    bootstrap = "Bootstrapped cross-validation residuals"
    quantile = "Quantile (per-tree percentiles, or quantile loss for gbr)"


SIMPLE_EXAMPLE: JsonDict = {
    "target_year": "2001",
    "dataset": "wdi",
    "target": "wdi-EG.ELC.ACCS.ZS",
    "interpolator": "KNNImputer",
    "scheme": "MANUAL",
    "manual_predictors": ["wdi-AG.LND.AGRI.ZS"],
    "estimators": 10,
    "model": "rfr",
    "interval": "quantile",
    "history": True,
}
AFS_EXAMPLE = {
    **SIMPLE_EXAMPLE,
    "scheme": "AFS",
    "number_predictor": 10,
    "estimators": 100,
    "manual_predictors": None,
}
"""The replaced system's "time-consuming" reference request (bench/twolvlimp_bench.py)."""


class TargetFields(ModelRequest):
    target_year: str = Field(
        title="The year under consideration",
        max_length=4,
        json_schema_extra=lists_values("/target_years"),
        examples=["2001"],
    )
    dataset: str = Field(
        title="Dataset",
        description="Dataset code of the target.",
        max_length=50,
        json_schema_extra=lists_values("/datasets"),
        examples=["wdi"],
    )
    target: Code = Field(
        title="Target",
        description="Indicator code of the indicator to impute.",
        json_schema_extra=lists_values("/targets"),
        examples=["wdi-EG.ELC.ACCS.ZS"],
    )


class PredictorsRequest(TargetFields):
    scheme: Scheme = Field(title="Feature selection scheme")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"target_year": "2001", "dataset": "wdi", "target": "wdi-EG.ELC.ACCS.ZS", "scheme": "MANUAL"}
            ]
        }
    }


class TrainRequest(TargetFields):
    interpolator: Interpolator = Field(
        title="Base Imputer",
        description="The base imputer that fills the predictors' gaps before training (fitted on "
        "the countries that report the target).",
    )
    scheme: Scheme = Field(title="Feature selection scheme")
    manual_predictors: list[Code] | None = Field(
        None,
        title="List of predictors (for Manual)",
        min_length=1,
        max_length=MAX_PREDICTORS,
        json_schema_extra=required_if(scheme=[Scheme.MANUAL]) | lists_values("/predictors", "POST"),
    )
    number_predictor: int | None = Field(
        None,
        title="Number of predictors (for AFS and PCA)",
        ge=1,
        le=MAX_PREDICTORS,
        json_schema_extra=required_if(scheme=[Scheme.AFS, Scheme.PCA]) | lists_values("/predictors", "POST"),
    )
    estimators: int = Field(
        100,
        title="Number of trees",
        ge=1,
        le=MAX_ESTIMATORS,
        description=f"Trees per model (1–{MAX_ESTIMATORS}).",
    )
    model: Model = Field(title="Model")
    interval: Interval = Field(title="Prediction interval")
    history: bool = Field(
        True,
        title="Use each country's own history",
        description="Default true (`false`: the pure two-level cross-sectional model of the replaced "
        "system). Estimate from the country's own series of the target in the other years (linear "
        "interpolation, or a smooth curve where the SIDS' own data show it fits better), "
        "shifted by the year's shock and blended with the cross-sectional estimate only "
        "where the training countries show out of sample that this helps; a country "
        "without other years keeps the cross-sectional estimate.",
    )

    model_config = {"json_schema_extra": {"examples": [SIMPLE_EXAMPLE]}}


class BacktestRequest(TrainRequest):
    folds: int = Field(
        5,
        title="Folds",
        ge=MIN_FOLDS,
        le=MAX_FOLDS,
        description=f"Folds ({MIN_FOLDS}–{MAX_FOLDS}) the observed SIDS values of the "
        "target/year are hidden in, one fold at a time.",
    )

    model_config = {"json_schema_extra": {"examples": [{**SIMPLE_EXAMPLE, "folds": 5}]}}


class Correlation(BaseModel):
    index: list[str]
    columns: list[str]
    data: list[list[float | None]]


class ClippedValue(BaseModel):
    field: Literal["data", "lowerIntervals", "upperIntervals"]
    raw: float = Field(description="The value before it was clipped to the indicator's plausible range.")


class YearResult(BaseModel):
    """One year's result as the algorithm assembles it (nested year-first only inside the service)."""

    data: dict[str, float]
    lowerIntervals: dict[str, float]
    upperIntervals: dict[str, float]
    featureImportances: dict[str, float]
    categoryImportances: dict[str, float]
    correlation: Correlation
    rmse: float
    rmse_deviation: float | None
    model: str
    max_depth: int | None
    clipped: dict[str, list[ClippedValue]]


class HistoryMethod(BaseModel):
    """How the history estimates of this request were made (see docs/models.md)."""

    used: bool = Field(
        description="False when too few training countries have history: every "
        "imputed value is then the cross-sectional estimate."
    )
    curve: Literal["linear", "pchip", "akima"] = Field(
        description="Curve through each country's other years (a smooth one only where the SIDS' own "
        "data show it beats the straight line)."
    )
    shock: float | None = Field(
        description="The year's shock: the SIDS training countries' mean error "
        "of that curve, in units of their temporal standard deviation."
    )
    shockShare: float = Field(description="Share of the shock added to each country's curve (0–1).")
    crossSection: bool = Field(
        description="Whether the cross-sectional estimate is blended in (only when "
        "that beat the curve out of sample on the training countries)."
    )
    trainingCountries: int = Field(description="Training countries with history the choices were made on.")


class HistoryYearResult(YearResult):
    temporalWeights: dict[str, float]
    historyMethod: HistoryMethod


class IndicatorJson(BaseModel):
    """SPEC §5.1.6: every field is keyed by year first (`data["2001"]["GNB"]`), as the dashboard reads it."""

    data: dict[str, dict[str, float]] = Field(
        description="{year: {country: value}}: observed SIDS values, with the imputed ones filled in."
    )
    lowerIntervals: dict[str, dict[str, float]] = Field(
        description="{year: {country: bound}}: lower 90 % bound of each imputed value."
    )
    upperIntervals: dict[str, dict[str, float]] = Field(
        description="{year: {country: bound}}: upper 90 % bound of each imputed value."
    )
    featureImportances: dict[str, dict[str, float]] = Field(description="{year: {indicator: weight}}.")
    categoryImportances: dict[str, dict[str, float]] = Field(description="{year: {category: summed weight}}.")
    correlation: dict[str, Correlation] = Field(
        description="{year: correlation of the selected predictors (split orient)}."
    )
    rmse: dict[str, float] = Field(description="{year: cross-validated root mean squared error (5 folds)}.")
    rmse_deviation: dict[str, float | None] = Field(
        description="{year: rmse / target mean, or rmse / target range when that ratio is outside [0, 1]}."
    )
    model: dict[str, str] = Field(
        description="{year: model family used (the best one when `all` was requested)}."
    )
    max_depth: dict[str, int | None] = Field(
        description="{year: tree depth chosen by the search (null: unlimited)}."
    )
    clipped: dict[str, dict[str, list[ClippedValue]]] = Field(
        description="{year: {country: [{field, raw}]}}: values the model put outside the indicator's "
        "plausible range (SPEC §5.7: never negative, or above 100 for a percentage, where no "
        "observation is; points within 25 % of the observed range beyond it), clipped to it. "
        "Empty when nothing was clipped."
    )

    @classmethod
    def of_year(cls, year: str, result: YearResult) -> "IndicatorJson":
        """Nest one year's result field first, then year."""
        return cls(**{field: {year: value} for field, value in result})


class HistoryIndicatorJson(IndicatorJson):
    temporalWeights: dict[str, dict[str, float]] = Field(
        description="{year: {country: weight of its own series in its estimate}} (0: cross-sectional only)."
    )
    historyMethod: dict[str, HistoryMethod] = Field(
        description="{year: how the history estimates were made}."
    )


class PredictResponse(BaseModel):
    indicatorJson: SerializeAsAny[IndicatorJson] = Field(
        description="Each field keyed by year (SPEC §5.1.6); with `history` also `temporalWeights` and "
        "`historyMethod`."
    )


class BacktestCountry(BaseModel):
    country: str
    fold: int
    truth: float
    prediction: float = Field(description="The requested model's estimate (with history if asked).")
    lower: float
    upper: float
    cross_sectional: float | None = Field(description="With `history`: the estimate without it.")
    temporal_weight: float | None = Field(description="With `history`: weight of the country's own series.")
    cross_country_mean: float
    own_series_linear: float = Field(
        description="Linear interpolation of the country's other years, flat "
        "beyond its first/last one (the mean if it has none)."
    )


class BacktestResponse(BaseModel):
    target: str
    target_year: str
    folds: int
    scores: dict[str, Scores] = Field(
        description="`model` (as requested), `cross_sectional` (with `history`: the same without it), "
        "`cross_country_mean` and `own_series_linear` baselines, all on the same folds."
    )
    countries: list[BacktestCountry]


class Dimension(BaseModel):
    label: str
    value: str


class Estimate(BaseModel):
    seconds: float = Field(description="Expected duration of the request on this deployment.")
    method: str = Field(
        description="`history` (fitted on measured runs), `formula-scaled` (cost "
        "formula corrected by measured runs) or `formula` (no runs yet)."
    )
    runs: int = Field(description="Measured runs the estimate is based on.")
    machine_unit: float | None = Field(
        None,
        description="This host's machine unit in seconds (a fixed forest fit, measured in the "
        "background after startup; null until then), which turns the cost formula into seconds.",
    )
