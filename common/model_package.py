"""The contract between a model package (`models/<name>/__init__.py`) and the app that mounts it.

Discovery (`api_app/discovery.py`) imports the package and reads exactly these names from it:

- `router` (required): the `APIRouter` with the package's endpoints.
- `REQUIRED_RESOURCES` (optional, default `()`): names of the shared resources its endpoints use, keys
  of `shared_dataloader.LOADERS` (e.g. `"indicators"`). Each is loaded once at startup and shared.
- `WARMUP` (optional): `WARMUP(resources)`, called once with `{name: loaded resource}` in the API
  process, in the background after the app reports ready, for what the endpoints that run there need
  (a catalogue an endpoint answers from, an artifact model's predictors); a request arriving before
  it is done loads what it needs itself. A failure is logged and only costs speed.
- `COMPUTE_WARMUP` (optional): `COMPUTE_WARMUP(resources)`, the same but run where the compute
  processes are forked from (`common.processes`): on Linux a zygote process forked from the API
  process once the data is loaded, so the libraries a model computes with (scikit-learn, SciPy) and
  the caches its computations use are shared copy-on-write by every compute process and never loaded
  into the API process. Where there is no zygote (`COMPUTE_ISOLATION=thread`, no fork) it runs in
  the API process after `WARMUP`. Import the libraries inside the functions that use them, so that
  the API process, which only validates and routes, does not import them either.
- `HEALTH` (optional): `HEALTH(app)` → `{"state": "ready" | "loading" | "failed", "error"?, "detail"?}`,
  the model's entry in `GET /health/ready` (default: the state of its resources).

`conform(module)` checks a module against this contract. Endpoints take a resource with
`IndicatorsDep` (or `Annotated[T, Depends(common.resources.use_resource(name))]`); model functions
take an optional `common.progress.Progress`.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import APIRouter, Depends, FastAPI

from common.resources import use_resource

if TYPE_CHECKING:
    from shared_dataloader import IndicatorDataset  # common imports nothing else of the project at run time

Resources = Mapping[str, Any]
"""The loaded resources of a package, by name (what `WARMUP` and `COMPUTE_WARMUP` receive)."""
Warmup = Callable[[Resources], None]
HealthReport = dict[str, str]
Health = Callable[[FastAPI], HealthReport]

IndicatorsDep = Annotated["IndicatorDataset", Depends(use_resource("indicators"))]
"""An endpoint parameter receiving the loaded SIDS indicator dataset (a 503 while it is not loaded);
the package lists `"indicators"` in `REQUIRED_RESOURCES`."""


class ModelPackage(Protocol):
    """What a model package's module provides, once the optional names have their defaults (the
    members are spelled as the module-level names they are read from)."""

    @property
    def router(self) -> APIRouter: ...

    @property
    def REQUIRED_RESOURCES(self) -> tuple[str, ...]: ...

    @property
    def WARMUP(self) -> Warmup | None: ...

    @property
    def COMPUTE_WARMUP(self) -> Warmup | None: ...

    @property
    def HEALTH(self) -> Health | None: ...


class ContractError(TypeError):
    """A model package does not provide what `ModelPackage` describes; the message says what to fix."""


@dataclass(frozen=True)
class _Conforming:
    router: APIRouter
    REQUIRED_RESOURCES: tuple[str, ...]
    WARMUP: Warmup | None
    COMPUTE_WARMUP: Warmup | None
    HEALTH: Health | None


RENAMED = {"REQUIRED_DATA": "REQUIRED_RESOURCES"}
"""Names of an earlier contract, refused with a pointer to the current name."""


def conform(module: ModuleType) -> ModelPackage:
    """`module` as a `ModelPackage`, defaults filled in; `ContractError` when it does not conform."""
    where = f"{module.__name__.replace('.', '/')}/__init__.py"
    for old, new in RENAMED.items():
        if hasattr(module, old):
            raise ContractError(f"{where}: {old} was renamed {new}")
    router = getattr(module, "router", None)
    if not isinstance(router, APIRouter):
        raise ContractError(f"{where} must define `router = APIRouter(...)`, found {type(router).__name__}")
    resources = getattr(module, "REQUIRED_RESOURCES", ())
    if isinstance(resources, str) or not (
        isinstance(resources, (tuple, list)) and all(isinstance(name, str) for name in resources)
    ):
        raise ContractError(
            f"{where}: REQUIRED_RESOURCES must be a tuple of resource names such as ('indicators',), "
            f"found {resources!r}"
        )
    hooks: dict[str, Any] = {}
    for name in ("WARMUP", "COMPUTE_WARMUP", "HEALTH"):
        hook = getattr(module, name, None)
        if hook is not None and not callable(hook):
            raise ContractError(f"{where}: {name} must be a function, found {type(hook).__name__}")
        hooks[name] = hook
    return _Conforming(router, tuple(resources), hooks["WARMUP"], hooks["COMPUTE_WARMUP"], hooks["HEALTH"])
