"""Open Inference Protocol (KServe V2) tensors for artifact models: request decoding, response
encoding and model metadata. Plain functions; errors are `V2Error` (a ValueError).

Text models take one BYTES tensor (shape [N] or [N, 1]); tabular models take one tensor per feature
(numbers: FP*/INT*/UINT*, categories: BYTES), the layout of MLServer's pandas codec. Outputs:
`label` (BYTES, [N]) and `probabilities` (FP64, [N, labels]).
"""

import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from models._artifacts.spec import TEXT, ModelSpec

NUMERIC = {
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
}
OUTPUTS = ("label", "probabilities")
PLATFORMS = {"skops": "sklearn", "onnx": "onnxruntime"}
MAX_TENSOR_ROWS = 10_000
Scalar = str | float | int | bool | None


class V2Error(ValueError):
    pass


class RequestInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    shape: list[int] = Field(min_length=1, max_length=2)
    datatype: str = Field(max_length=10)
    parameters: dict[str, Any] | None = Field(None, max_length=50)
    data: list[Scalar | Annotated[list[Scalar], Field(max_length=1)]] = Field(
        max_length=MAX_TENSOR_ROWS,
        description=f"Values in row-major order (at most {MAX_TENSOR_ROWS} rows); "
        "[N] or [N, 1] nested as [[v], …].",
    )


class RequestOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    parameters: dict[str, Any] | None = Field(None, max_length=50)


class InferenceRequest(BaseModel):
    """A V2 inference request; the example is for the text model `sentiment` (tabular models take
    one tensor per feature: GET /v2/models/{name} lists them)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "example-1",
                    "inputs": [
                        {
                            "name": "text",
                            "shape": [2],
                            "datatype": "BYTES",
                            "data": [
                                "Great food and very friendly staff.",
                                "The battery died after one day.",
                            ],
                        }
                    ],
                }
            ]
        },
    )

    id: str | None = Field(None, max_length=200)
    parameters: dict[str, Any] | None = Field(None, max_length=50)
    inputs: list[RequestInput] = Field(min_length=1, max_length=100)
    outputs: list[RequestOutput] | None = Field(None, max_length=len(OUTPUTS))


def _flatten(data: list) -> list:
    flat = []
    for item in data:
        if isinstance(item, list):
            flat.extend(_flatten(item))
        else:
            flat.append(item)
    return flat


def _rows(tensor: RequestInput) -> list:
    """The tensor's values, one per instance (shape must be [N] or [N, 1])."""
    if any(d < 0 for d in tensor.shape) or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
        raise V2Error(f"input {tensor.name!r} must have shape [N] or [N, 1]; got {tensor.shape}")
    values = _flatten(tensor.data)
    if len(values) != math.prod(tensor.shape):
        raise V2Error(f"input {tensor.name!r} has {len(values)} values but shape {tensor.shape}")
    check = _check_bytes if tensor.datatype == "BYTES" else _check_number
    for index, value in enumerate(values):
        if problem := check(value):
            raise V2Error(f"input {tensor.name!r} value {index} {problem}")
    return values


def _check_number(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return None  # the model's own checks name the expected type
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        finite = False
    return None if finite else "is not a finite number that fits FP64"


def _check_bytes(value: Any) -> str | None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid UTF-8 text (it holds a lone surrogate \\uD800–\\uDFFF)"
    return None


def wanted_outputs(request: InferenceRequest) -> list[str]:
    wanted = [o.name for o in request.outputs] if request.outputs else list(OUTPUTS)
    unknown = [name for name in wanted if name not in OUTPUTS]
    if unknown:
        raise V2Error(f"unknown outputs {', '.join(unknown)}; available: {', '.join(OUTPUTS)}")
    return wanted


def decode(spec: ModelSpec, request: InferenceRequest) -> list:
    """The request's tensors as instances (texts, or feature objects); checks the requested outputs."""
    wanted_outputs(request)
    if spec.kind == TEXT:
        if len(request.inputs) != 1:
            raise V2Error("send exactly one input tensor (BYTES, shape [N]) holding the texts")
        tensor = request.inputs[0]
        if tensor.datatype != "BYTES":
            raise V2Error(f"input {tensor.name!r} must have datatype BYTES; got {tensor.datatype}")
        return _rows(tensor)
    tensors = {t.name: t for t in request.inputs}
    names = spec.feature_names
    unknown = sorted(set(tensors) - set(names))
    missing = [n for n in names if n not in tensors]
    if unknown or missing:
        raise V2Error(
            "send one input tensor per feature: "
            + (f"missing {', '.join(missing)}; " if missing else "")
            + (f"unknown {', '.join(unknown)}; " if unknown else "")
            + f"features: {', '.join(names)}"
        )
    columns = {}
    for feature in spec.features:
        tensor = tensors[feature.name]
        wanted = NUMERIC if feature.kind == "number" else {"BYTES"}
        if tensor.datatype not in wanted:
            raise V2Error(
                f"input {feature.name!r} must have datatype "
                f"{'a numeric type (FP32, FP64, INT64…)' if feature.kind == 'number' else 'BYTES'}"
                f"; got {tensor.datatype}"
            )
        columns[feature.name] = _rows(tensor)
    sizes = {len(v) for v in columns.values()}
    if len(sizes) != 1:
        raise V2Error("every input tensor must have the same number of rows")
    return [dict(zip(names, row)) for row in zip(*columns.values())]


def encode(spec: ModelSpec, version: str, probabilities, request: InferenceRequest) -> dict:
    wanted = wanted_outputs(request)
    rows, width = probabilities.shape
    outputs = []
    for name in wanted:
        if name == "label":
            outputs.append(
                {
                    "name": "label",
                    "datatype": "BYTES",
                    "shape": [rows],
                    "data": [spec.labels[i] for i in probabilities.argmax(axis=1)],
                }
            )
        else:
            outputs.append(
                {
                    "name": "probabilities",
                    "datatype": "FP64",
                    "shape": [rows, width],
                    "data": probabilities.ravel().tolist(),
                }
            )
    response = {"model_name": spec.name, "model_version": version, "outputs": outputs}
    if request.id is not None:
        response["id"] = request.id
    return response


def metadata(spec: ModelSpec, versions: list[str], fmt: str) -> dict:
    if spec.kind == TEXT:
        inputs = [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    else:
        inputs = [
            {"name": f.name, "datatype": "FP64" if f.kind == "number" else "BYTES", "shape": [-1]}
            for f in spec.features
        ]
    return {
        "name": spec.name,
        "versions": versions,
        "platform": PLATFORMS.get(fmt, fmt),
        "inputs": inputs,
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(spec.labels)]},
        ],
    }
