"""Response models of the platform endpoints."""

from typing import Any, Literal

from pydantic import BaseModel, Field


class ServiceInfo(BaseModel):
    service: str
    version: str
    models: list[str] = Field(description="Models mounted and serving in this process.")
    unavailable_models: dict[str, str] = Field(
        description="Models that were selected but could not be loaded, with the reason."
    )
    docs: str
    playground: str = Field(description="The playground web app: forms and charts for every model.")


class DatasetFile(BaseModel):
    name: str = Field(description="Path relative to DATASET_PATH.")
    bytes: int


class DatasetListing(BaseModel):
    files: list[DatasetFile]


class Liveness(BaseModel):
    status: Literal["alive"]


class ComponentState(BaseModel):
    state: Literal["loading", "ready", "failed"]
    error: str | None = None
    detail: str | None = None


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    models: dict[str, ComponentState]
    data: dict[str, ComponentState]
    redis: Literal["up", "down"] | None = Field(
        None,
        description="JOB_BACKEND=redis: whether this process reaches Redis. Down does not make the "
        "service not ready (listings and cached answers go on); model requests answer 503 meanwhile.",
    )


class ParamsEntry(BaseModel):
    """One model in `/params`; `inputs` is absent for models without a main endpoint."""

    model: str
    label: str
    inputs: list[dict[str, Any]] | None = None
