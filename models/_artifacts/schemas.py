"""Request and response models of an artifact model's endpoints, built from its spec."""

from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from common.requests import ModelRequest, lists_values
from models._artifacts.spec import TEXT, Feature, ModelSpec


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _number_type(feature: Feature) -> Any:
    """A finite float within the feature's declared range (whole when it must be)."""
    return (
        Annotated[
            float,
            Field(
                ge=feature.minimum,
                le=feature.maximum,
                allow_inf_nan=False,
                multiple_of=1 if feature.whole else None,
            ),
        ]
        | None
    )


def features_model(spec: ModelSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {
        f.name: (
            _number_type(f) if f.kind == "number" else str | None,
            Field(None, description=f.description),
        )
        for f in spec.features
    }
    return create_model(f"{_camel(spec.name)}Features", __config__=ConfigDict(extra="forbid"), **fields)


class PredictBody(Protocol):
    """What the predict endpoint reads from the request model `predict_request` builds for a spec."""

    instances: list[Any]
    version: str | None


def predict_request(spec: ModelSpec) -> type[ModelRequest]:
    item: Any
    if spec.kind == TEXT:
        item = Annotated[str, StringConstraints(max_length=spec.max_text_chars)]
        description = (
            f"Texts to classify (1–{spec.max_instances}, each up to {spec.max_text_chars} characters)."
        )
    else:
        item = (
            features_model(spec) | Annotated[list[float | str | None], Field(max_length=len(spec.features))]
        )
        description = (
            f"Instances to classify (1–{spec.max_instances}): objects with the named "
            f"features (missing ones count as unknown), or arrays of "
            f"{len(spec.features)} values in this order: {', '.join(spec.feature_names)}."
        )
    examples = [list(spec.examples)]
    fields: dict[str, Any] = {
        "instances": (
            list[item],
            Field(
                title="Instances",
                description=description,
                min_length=1,
                max_length=spec.max_instances,
                examples=examples,
            ),
        ),
        "version": (
            str | None,
            Field(
                None,
                title="Model version",
                max_length=50,
                description="Version to use; omit for the default version (or the configured A/B split).",
                json_schema_extra=lists_values("/versions", "GET"),
            ),
        ),
    }
    model = create_model(f"{_camel(spec.name)}PredictRequest", __base__=ModelRequest, **fields)
    model.model_config["json_schema_extra"] = {"examples": [{"instances": list(spec.examples)}]}
    model.model_rebuild(force=True)
    return model


class BatchJobRequest(ModelRequest):
    """A batch-scoring job as JSON, so a queue worker can rebuild it: the uploaded file's text, the
    version chosen when it was accepted, and the model's spec (the worker needs no model package)."""

    spec: dict = Field(description="The model's spec (`ModelSpec.to_json()`).")
    version: str = Field(max_length=50)
    artifact_sha256: str = Field(
        description="Checksum of the version's artifact when the job was "
        "accepted; a worker holding another artifact refuses it."
    )
    content: str = Field(description="The uploaded file (UTF-8 text).")
    input_format: Literal["csv", "jsonl"]
    output: Literal["csv", "jsonl"]


class PredictResponse(BaseModel):
    model: str
    version: str = Field(
        description="The version that answered (chosen by the request, the A/B split or the default)."
    )
    labels: list[str] = Field(description="Class labels, in the order of each probabilities row.")
    predictions: list[str] = Field(description="Most probable label of each instance.")
    probabilities: list[list[float]] = Field(description="Per instance, one probability per label.")


class VersionInfo(BaseModel):
    version: str
    format: str
    created: str
    pipeline: str | None = None
    held_out: dict | None = Field(None, description="Metrics measured on held-out data.")


class VersionsResponse(BaseModel):
    model: str
    default_version: str | None
    traffic_split: dict[str, float] = Field(
        description="Share of requests without `version` per version; empty = all go to the default."
    )
    versions: list[VersionInfo]
    skipped: dict[str, str] = Field(description="Versions in the store that are not served, and why.")
    routing_error: str | None = None


class DriftResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    version: str
    samples: int = Field(description="Recent instances scored by this process for this version.")
    status: str = Field(
        description="stable | moderate | significant (worst feature PSI: < 0.1, "
        "< 0.25, ≥ 0.25), or insufficient_data / no_reference."
    )
