"""The request base: enums by NAME and required_if conditions, as 422s a dashboard can show."""

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import Field

from api_app import error_handlers
from common.requests import ModelRequest, NamedEnum, required_if


class Colour(NamedEnum):
    RED = "A warm colour"
    BLUE = "A cool colour"


class PaintRequest(ModelRequest):
    colour: Colour = Field(title="Colour")
    shade: int | None = Field(None, json_schema_extra=required_if(colour=[Colour.BLUE]))


def make_client() -> TestClient:
    app = FastAPI()
    router = APIRouter()

    @router.post("/paint")
    def paint(body: PaintRequest) -> dict:
        return body.model_dump(mode="json")

    app.include_router(router)
    error_handlers.install(app)
    return TestClient(app)


def test_enum_members_are_accepted_and_returned_by_name():
    client = make_client()
    assert client.post("/paint", json={"colour": "RED"}).json() == {"colour": "RED", "shade": None}
    assert PaintRequest(colour="BLUE", shade=2).colour is Colour.BLUE


def test_unknown_enum_name_lists_the_supported_names():
    response = make_client().post("/paint", json={"colour": "A warm colour"})
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "body.colour"
    assert error["message"] == "Unknown Colour 'A warm colour'; supported: RED, BLUE"


def test_required_if_names_the_field_and_the_condition():
    client = make_client()
    response = client.post("/paint", json={"colour": "BLUE"})
    assert response.status_code == 422
    assert "shade is required when colour is BLUE" in response.json()["detail"]
    assert client.post("/paint", json={"colour": "BLUE", "shade": 3}).json()["shade"] == 3


def test_enum_json_schema_offers_names_with_descriptions():
    schema = PaintRequest.model_json_schema()["properties"]["colour"]
    assert schema["enum"] == ["RED", "BLUE"]
    assert schema["x-enum-descriptions"] == {"RED": "A warm colour", "BLUE": "A cool colour"}
