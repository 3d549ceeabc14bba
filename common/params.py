"""`GET /params`: describe each model's main endpoint from its pydantic v2 JSON schema.

Shape (read by the dashboard, see SPEC §4):
`{model, label, inputs: [{parameter, label, description?, type | type "enum" + values {NAME: description},
default?, req_endpoint? {endpoint, method, inputs}, conditions?}]}`; an optional input has no
`conditions` key at all.
"""

from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaValue

from common.constants import MAIN_ENDPOINT_TAG
from common.requests import REQ_ENDPOINT_KEY, REQUIRED_IF_KEY

ParamsObject = dict[str, Any]
"""A JSON object of `/params` (an entry, an input, a `req_endpoint`), keys in the order of the shape above."""


def main_route(router: APIRouter) -> APIRoute | None:
    for route in router.routes:
        if isinstance(route, APIRoute) and (route.openapi_extra or {}).get(MAIN_ENDPOINT_TAG):
            return route
    return None


def _body_model(route: APIRoute) -> type[BaseModel] | None:
    for param in route.dependant.body_params:
        annotation = param.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
    return None


def _resolve(schema: JsonSchemaValue, defs: dict[str, JsonSchemaValue]) -> JsonSchemaValue:
    """Follow `$ref` and unwrap `Optional[X]` (anyOf X, null), keeping the outer title/description."""
    outer = {k: v for k, v in schema.items() if k not in ("$ref", "anyOf")}
    if "$ref" in schema:
        inner = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
        return {**_resolve(inner, defs), **outer}
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if len(options) == 1:
            return {**_resolve(options[0], defs), **outer}
    return schema


def _describe(name: str, schema: JsonSchemaValue, required: bool) -> ParamsObject:
    item: ParamsObject = {"parameter": name, "label": schema.get("title") or name}
    if schema.get("description"):
        item["description"] = schema["description"]
    if "enum" in schema:
        descriptions = schema.get("x-enum-descriptions") or {}
        item["type"] = "enum"
        item["values"] = {str(v): descriptions.get(str(v), str(v)) for v in schema["enum"]}
    else:
        item["type"] = schema.get("type") or next(
            (
                option["type"]
                for option in schema.get("anyOf") or schema.get("oneOf") or []
                if "type" in option
            ),
            "string",
        )
    if "default" in schema and schema["default"] is not None:
        item["default"] = schema["default"]
    required_if = schema.get(REQUIRED_IF_KEY)
    if required:
        item["conditions"] = [{"required": True}]
    elif required_if:
        item["conditions"] = [
            {"required": [{field: value} for field, values in required_if.items() for value in values]}
        ]
    return item


class ParamsBuilder:
    """Builds the `/params` entries of the routers of one app."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router

    def _find(self, endpoint: str, method: str) -> APIRoute | None:
        path = self.router.prefix + endpoint
        for route in self.router.routes:
            if isinstance(route, APIRoute) and route.path == path and method in (route.methods or ()):
                return route
        return None

    def route_inputs(self, route: APIRoute, seen: frozenset[str]) -> list[ParamsObject]:
        inputs = []
        for param in route.dependant.query_params:
            annotation = param.field_info.annotation
            schema = TypeAdapter(type(None) if annotation is None else annotation).json_schema()
            schema = _resolve(schema, schema.get("$defs", {}))
            schema = {
                **schema,
                "title": param.field_info.title or param.name,
                "description": param.field_info.description,
            }
            inputs.append(_describe(param.alias, schema, param.field_info.is_required()))
        model = _body_model(route)
        if model is not None:
            inputs.extend(self.model_inputs(model, seen))
        return inputs

    def model_inputs(self, model: type[BaseModel], seen: frozenset[str] = frozenset()) -> list[ParamsObject]:
        schema = model.model_json_schema()
        defs = schema.get("$defs", {})
        required = set(schema.get("required", []))
        inputs = []
        for name, prop in schema.get("properties", {}).items():
            resolved = _resolve(prop, defs)
            item = _describe(name, resolved, name in required)
            lister = resolved.get(REQ_ENDPOINT_KEY)
            if lister:
                item["req_endpoint"] = self._req_endpoint(lister, seen)
            if "conditions" in item:
                item["conditions"] = item.pop("conditions")
            inputs.append(item)
        return inputs

    def _req_endpoint(self, lister: JsonSchemaValue, seen: frozenset[str]) -> ParamsObject:
        endpoint, method = lister["endpoint"], lister["method"]
        key = f"{method} {endpoint}"
        route = self._find(endpoint, method)
        inputs = [] if route is None or key in seen else self.route_inputs(route, seen | {key})
        return {"endpoint": endpoint, "method": method, "inputs": inputs}

    def entry(self, model_name: str) -> ParamsObject:
        label = str(self.router.tags[0]) if self.router.tags else model_name
        route = main_route(self.router)
        if route is None:
            return {"model": model_name, "label": label}
        return {"model": model_name, "label": label, "inputs": self.route_inputs(route, frozenset())}
