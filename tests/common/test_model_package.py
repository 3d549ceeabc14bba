"""The model-package contract: what conforms, the defaults, and what each non-conforming package is told."""

import types

import pytest
from fastapi import APIRouter

from common.model_package import ContractError, conform


def _module(name: str = "models.example", **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


def test_a_router_alone_conforms_and_gets_the_defaults():
    router = APIRouter(prefix="/example")
    package = conform(_module(router=router))
    assert package.router is router
    assert package.REQUIRED_RESOURCES == ()
    assert package.WARMUP is None and package.COMPUTE_WARMUP is None and package.HEALTH is None


def test_every_declared_name_is_passed_on():
    def warmup(resources):
        return None

    def compute_warmup(resources):
        return None

    def health(app):
        return {"state": "ready"}

    package = conform(
        _module(
            router=APIRouter(),
            REQUIRED_RESOURCES=["indicators", "survey"],
            WARMUP=warmup,
            COMPUTE_WARMUP=compute_warmup,
            HEALTH=health,
        )
    )
    assert package.REQUIRED_RESOURCES == ("indicators", "survey")
    assert package.WARMUP is warmup and package.COMPUTE_WARMUP is compute_warmup and package.HEALTH is health


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({}, "models/example/__init__.py must define `router = APIRouter(...)`, found NoneType"),
        ({"router": "not a router"}, "must define `router = APIRouter(...)`, found str"),
        (
            {"router": APIRouter(), "REQUIRED_RESOURCES": "indicators"},
            "REQUIRED_RESOURCES must be a tuple of resource names such as ('indicators',), found 'indicators'",
        ),
        ({"router": APIRouter(), "REQUIRED_RESOURCES": ("indicators", 3)}, "found ('indicators', 3)"),
        ({"router": APIRouter(), "WARMUP": "later"}, "WARMUP must be a function, found str"),
        ({"router": APIRouter(), "COMPUTE_WARMUP": 1}, "COMPUTE_WARMUP must be a function, found int"),
        ({"router": APIRouter(), "HEALTH": {"state": "ready"}}, "HEALTH must be a function, found dict"),
        (
            {"router": APIRouter(), "REQUIRED_DATA": ("indicators",)},
            "models/example/__init__.py: REQUIRED_DATA was renamed REQUIRED_RESOURCES",
        ),
    ],
)
def test_a_package_that_does_not_conform_is_told_what_to_fix(attributes, message):
    with pytest.raises(ContractError) as raised:
        conform(_module(**attributes))
    assert message in str(raised.value)


def test_every_real_model_package_conforms():
    import importlib
    import pkgutil

    import models

    names = [m.name for m in pkgutil.iter_modules(models.__path__) if m.ispkg and not m.name.startswith("_")]
    assert {"sampleapi", "twolvlImp", "sentiment", "kserve_v2"} <= set(names)
    for name in names:
        package = conform(importlib.import_module(f"models.{name}"))
        assert set(package.REQUIRED_RESOURCES) <= {"indicators", "survey", "model_store"}, name
