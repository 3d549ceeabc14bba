from pydantic import BaseModel, Field

from common.requests import ModelRequest, lists_values


class SummaryRequest(ModelRequest):
    indicator: str = Field(
        title="Indicator",
        description="Indicator code, e.g. wdi-EG.ELC.ACCS.ZS.",
        json_schema_extra=lists_values("/indicators", "POST"),
        examples=["wdi-EG.ELC.ACCS.ZS"],
        max_length=200,
    )
    year: str | None = Field(
        None,
        title="Year",
        description="Year to compare; defaults to the latest year with SIDS data.",
        examples=["2015"],
        max_length=4,
    )

    model_config = {"json_schema_extra": {"examples": [{"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2015"}]}}


class GroupStats(BaseModel):
    countries: int
    mean: float | None
    median: float | None


class SummaryResponse(BaseModel):
    indicator: str
    name: str
    year: str
    sids: GroupStats
    others: GroupStats
    mean_difference: float | None = Field(description="SIDS mean minus the mean of other countries.")
