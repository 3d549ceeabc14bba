"""What a trained-artifact model takes and answers: the contract its stored versions must honour.

The spec lives in code (it defines the API, Swagger and /params); each version's metadata records
the `input_schema` and `labels` it was trained with, and a version that disagrees is not served.
"""

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

import numpy as np

TEXT: Final = "text"
TABULAR: Final = "tabular"


class InstanceError(ValueError):
    """An instance does not match the model's input; the message says what is expected."""


@dataclass(frozen=True)
class Feature:
    """One input of a tabular model; a number may declare its valid range (recorded in each
    version's metadata `input_schema`, so a request outside it is refused, not extrapolated)."""

    name: str
    kind: Literal["number", "category"]
    description: str
    minimum: float | None = None
    maximum: float | None = None
    whole: bool = False
    """Only whole numbers are valid (e.g. a month)."""

    def schema(self) -> dict:
        schema: dict[str, object] = {"name": self.name, "type": self.kind}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.whole:
            schema["integer"] = True
        return schema

    def valid_values(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        if self.minimum is not None and self.maximum is not None:
            return f"{kind} from {self.minimum:g} to {self.maximum:g}"
        return f"a finite {kind.removeprefix('a ')}"

    def invalid(self, values: np.ndarray) -> np.ndarray:
        """Mask of the values `problem` refuses (NaN, a missing value, is not refused)."""
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values)
            if self.minimum is not None:
                bad |= values < self.minimum
            if self.maximum is not None:
                bad |= values > self.maximum
            if self.whole:
                bad |= values != np.floor(values)
        return bad & ~np.isnan(values)

    def problem(self, value: float) -> str | None:
        """Why `value` is not valid for this feature, or None."""
        if (
            not math.isfinite(value)
            or (self.minimum is not None and value < self.minimum)
            or (self.maximum is not None and value > self.maximum)
            or (self.whole and not value.is_integer())
        ):
            return f"must be {self.valid_values()} or null, not {value!r}"
        return None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    label: str
    description: str
    kind: Literal["text", "tabular"]
    labels: tuple[str, ...]
    examples: tuple[Any, ...] = field(compare=False)
    features: tuple[Feature, ...] = ()
    max_text_chars: int = 5_000
    max_instances: int = 10_000

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def to_json(self) -> dict:
        """The spec as JSON data (without its Swagger examples), for a job a worker runs."""
        return {k: v for k, v in asdict(self).items() if k != "examples"}

    @classmethod
    def from_json(cls, value: dict) -> "ModelSpec":
        return cls(
            **{
                **value,
                "examples": (),
                "labels": tuple(value["labels"]),
                "features": tuple(Feature(**f) for f in value.get("features", ())),
            }
        )

    def input_schema(self) -> dict:
        if self.kind == TEXT:
            return {"kind": TEXT}
        return {"kind": TABULAR, "features": [f.schema() for f in self.features]}

    def mismatch(self, metadata: dict) -> str | None:
        """Why a version's metadata does not fit this spec, or None."""
        if metadata.get("input_schema") != self.input_schema():
            return "its input_schema differs from the model's declared inputs"
        if tuple(metadata.get("labels", ())) != self.labels:
            return f"its labels {metadata.get('labels')} differ from {list(self.labels)}"
        return None


def text_batch(spec: ModelSpec, instances: list) -> list[str]:
    for i, text in enumerate(instances):
        if not isinstance(text, str):
            raise InstanceError(f"instance {i} must be a string (a text to classify)")
        if len(text) > spec.max_text_chars:
            raise InstanceError(f"instance {i} is longer than {spec.max_text_chars} characters")
    return instances


def _number(value: Any, where: str, feature: Feature) -> float:
    if value is None:
        return np.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InstanceError(f"{where} must be {feature.valid_values()} or null, not {str(value)[:40]!r}")
    try:
        number = float(value)
    except OverflowError:
        raise InstanceError(
            f"{where} must be {feature.valid_values()} or null; "
            f"a number of {len(str(value))} digits is too large"
        ) from None
    if problem := feature.problem(number):
        raise InstanceError(f"{where} {problem}")
    return number


def _category(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InstanceError(f"{where} must be a string or null, not {value!r}")
    return value


def tabular_columns(spec: ModelSpec, instances: list) -> dict[str, np.ndarray]:
    """Instances (objects with the feature names, or arrays in `feature_names` order) as columns:
    float64 (NaN = missing) for numbers, object arrays of str/None for categories."""
    names = spec.feature_names
    rows = []
    for i, instance in enumerate(instances):
        if isinstance(instance, dict):
            unknown = sorted(set(instance) - set(names))
            if unknown:
                raise InstanceError(
                    f"instance {i} has unknown features {', '.join(unknown)}; features: {', '.join(names)}"
                )
            rows.append([instance.get(name) for name in names])
        elif isinstance(instance, (list, tuple)):
            if len(instance) != len(names):
                raise InstanceError(
                    f"instance {i} has {len(instance)} values; expected {len(names)} "
                    f"in this order: {', '.join(names)}"
                )
            rows.append(list(instance))
        else:
            raise InstanceError(
                f"instance {i} must be an object of features or an array of {len(names)} values"
            )
    columns = {}
    for j, feature in enumerate(spec.features):
        if feature.kind == "number":
            columns[feature.name] = np.array(
                [
                    _number(row[j], f"instance {i} feature {feature.name}", feature)
                    for i, row in enumerate(rows)
                ],
                dtype=np.float64,
            )
        else:
            columns[feature.name] = np.array(
                [_category(row[j], f"instance {i} feature {feature.name}") for i, row in enumerate(rows)],
                dtype=object,
            )
    return columns


def prepare(spec: ModelSpec, instances: list) -> Any:
    """Validate instances and put them in the runtime's input form (texts, or feature columns)."""
    if not instances:
        raise InstanceError("send at least one instance")
    if len(instances) > spec.max_instances:
        raise InstanceError(
            f"at most {spec.max_instances} instances per request; use POST /{spec.name}/batch for more"
        )
    return text_batch(spec, instances) if spec.kind == TEXT else tabular_columns(spec, instances)
