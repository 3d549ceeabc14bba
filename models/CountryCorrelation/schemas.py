from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field

from common.requests import ModelRequest, lists_values


def _year_text(value: object) -> object:
    """Years may be sent as numbers (as the replaced system's dashboard did) or as strings."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Year = Annotated[str, BeforeValidator(_year_text)]


class SelectionRequest(ModelRequest):
    dataset: str = Field(
        title="The dataset code as defined in the indicatorMeta file",
        examples=["wdi"],
        max_length=50,
        json_schema_extra=lists_values("/datasets"),
    )
    category: str = Field(
        title="The category of the indicators as defined in the indicatorMeta file",
        description="GET /correlation/categories?dataset= lists them.",
        examples=["Financial Sector"],
        max_length=200,
        json_schema_extra=lists_values("/categories"),
    )
    year: Year = Field(
        title="The year under consideration",
        description="GET /correlation/years?dataset=&category= lists the years with data.",
        examples=["2014"],
        max_length=4,
        json_schema_extra=lists_values("/years"),
    )


class CorrelateRequest(SelectionRequest):
    country: str = Field(
        title="The ISO3 code of the SIDS country",
        description="GET /correlation/countries?dataset=&category=&year= lists them.",
        examples=["SGP"],
        max_length=3,
        json_schema_extra=lists_values("/countries"),
    )

    model_config = {
        "json_schema_extra": {
            "examples": [{"dataset": "wdi", "category": "Financial Sector", "country": "SGP", "year": "2014"}]
        }
    }


class CountryClusterRequest(SelectionRequest):
    k: int = Field(
        title="The number of clusters expected",
        description="At least 1; capped at the number of countries with data.",
        examples=[5],
        ge=1,
        le=1000,
    )

    model_config = {
        "json_schema_extra": {
            "examples": [{"dataset": "wdi", "category": "Financial Sector", "year": "2014", "k": 5}]
        }
    }


class CorrelateResponse(BaseModel):
    country_corr: dict[str, list[str] | list[float]] = Field(
        description="`index`: the other SIDS, most correlated first; `<country>`: their Pearson r.",
        examples=[{"index": ["LCA", "FJI"], "SGP": [0.56, 0.54]}],
    )


class CountryClusterResponse(BaseModel):
    country: list[str] = Field(description="SIDS with data in that year and category.")
    label: list[int] = Field(description="Cluster of each country (0-based, in order of first appearance).")
    coords: list[list[float]] = Field(
        description="Each country's position on the first two principal components of its "
        "standardized, gap-filled indicators (`[pc1, pc2]`), for a 2-D scatter."
    )
