"""The request base every model uses: enum members by NAME, and `required_if` conditions."""

import difflib
import typing
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler, model_validator
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

REQUIRED_IF_KEY = "x-required-if"
REQ_ENDPOINT_KEY = "x-req-endpoint"


class NamedEnum(Enum):
    """An enum sent and returned by member NAME; each member's value is its description.

    `class Interpolator(NamedEnum): KNNImputer = "K Nearest Neighbour Interpolation"` accepts
    `"KNNImputer"`; anything else is a 422 listing the supported names.
    """

    @classmethod
    def names(cls) -> list[str]:
        return [member.name for member in cls]

    @classmethod
    def _from_name(cls, value: Any) -> "NamedEnum":
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and value in cls.__members__:
            return cls[value]
        raise PydanticCustomError(
            "enum_name",
            "Unknown {kind} {value}; supported: {supported}",
            {"kind": cls.__name__, "value": repr(value), "supported": ", ".join(cls.names())},
        )

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._from_name,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda member: member.name),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {
            "type": "string",
            "enum": cls.names(),
            "x-enum-descriptions": {member.name: member.value for member in cls},
        }


def _condition_name(value: Any) -> Any:
    return value.name if isinstance(value, Enum) else value


def required_if(**conditions: Any) -> JsonDict:
    """`json_schema_extra` marking a field required when another field has one of the given values.

    `Field(None, json_schema_extra=required_if(scheme=[Scheme.AFS, Scheme.PCA]))`
    """
    normalised: JsonDict = {
        field: [_condition_name(v) for v in (values if isinstance(values, (list, tuple)) else [values])]
        for field, values in conditions.items()
    }
    return {REQUIRED_IF_KEY: normalised}


def lists_values(endpoint: str, method: str = "GET") -> JsonDict:
    """`json_schema_extra` naming the endpoint (relative to the model's prefix) that lists valid values."""
    return {REQ_ENDPOINT_KEY: {"endpoint": endpoint, "method": method.upper()}}


def field_extra(field_info: FieldInfo) -> JsonDict:
    extra = field_info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (directly, or inside Optional/list/Union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def unknown_field_message(model: type[BaseModel] | None, path: tuple[int | str, ...]) -> str:
    """What to say about an unknown key: `path` is its location inside a body of type `model`
    (ending with the key); names the closest valid field and lists the valid ones."""
    *parents, name = path or ("?",)
    current = model
    for part in parents:
        if isinstance(part, int) or current is None:
            continue
        fields = {info.alias or field: info for field, info in current.model_fields.items()}
        current = _model_in(fields[part].annotation) if part in fields else None
    valid = [info.alias or field for field, info in current.model_fields.items()] if current else []
    message = f"Unknown field {str(name)!r}"
    closest = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.6)
    if closest:
        message += f"; did you mean {closest[0]!r}?"
    if valid:
        message += f"{'' if closest else ';'} Valid fields: {', '.join(valid)}."
    return message


class ModelRequest(BaseModel):
    """Base of every model request body; enforces the `required_if` conditions of its fields and
    refuses unknown fields (a typo such as `histroy` must not silently change the answer)."""

    model_config = ConfigDict(use_enum_values=False, extra="forbid")

    @model_validator(mode="after")
    def _check_required_if(self) -> "ModelRequest":
        for name, info in type(self).model_fields.items():
            conditions = field_extra(info).get(REQUIRED_IF_KEY)
            if not isinstance(conditions, dict) or not conditions or getattr(self, name) is not None:
                continue
            for other, values in conditions.items():
                current = _condition_name(getattr(self, other, None))
                if isinstance(values, list) and current in values:
                    raise PydanticCustomError(
                        "required_if",
                        "{field} is required when {other} is {value}",
                        {"field": name, "other": other, "value": current},
                    )
        return self
