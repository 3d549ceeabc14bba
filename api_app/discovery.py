"""Find model packages under `models/` by their `router`; a package that fails is recorded, not raised."""

import importlib
import logging
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import APIRouter

log = logging.getLogger(__name__)


@dataclass
class ModelPackage:
    name: str
    router: APIRouter | None = None
    required_data: tuple[str, ...] = ()
    error: str | None = None
    health: Callable | None = None  # optional HEALTH(app) -> {"state", "error"?, "detail"?}
    warmup: Callable | None = None  # optional WARMUP({data name: loaded data}), run before ready

    @property
    def label(self) -> str:
        if self.router is not None and self.router.tags:
            return str(self.router.tags[0])
        return self.name


@dataclass
class Discovery:
    packages: list[ModelPackage] = field(default_factory=list)

    @property
    def mounted(self) -> list[ModelPackage]:
        return [p for p in self.packages if p.router is not None]


def _load(package: str, name: str) -> ModelPackage:
    try:
        module = importlib.import_module(f"{package}.{name}")
        router = getattr(module, "router", None)
        if not isinstance(router, APIRouter):
            raise TypeError(f"models/{name}/__init__.py must define `router = APIRouter(...)`")
        required = tuple(getattr(module, "REQUIRED_DATA", ()))
        return ModelPackage(
            name=name,
            router=router,
            required_data=required,
            health=getattr(module, "HEALTH", None),
            warmup=getattr(module, "WARMUP", None),
        )
    except Exception as exc:
        log.exception("model package %s failed to load; it is left out", name)
        return ModelPackage(name=name, error=f"{type(exc).__name__}: {exc}")


def discover(selected: tuple[str, ...] = (), package: str = "models") -> Discovery:
    """Import every package of `package` (or only `selected` ones) and collect their routers.

    Packages are found through the package's own `__path__`, so the working directory is irrelevant.
    """
    root = importlib.import_module(package)
    available = sorted(
        m.name for m in pkgutil.iter_modules(root.__path__) if m.ispkg and not m.name.startswith("_")
    )
    wanted = list(selected) or available
    packages = []
    for name in wanted:
        if name not in available:
            packages.append(
                ModelPackage(
                    name=name, error=f"no model package named {name!r}; available: {', '.join(available)}"
                )
            )
            continue
        packages.append(_load(package, name))
    return Discovery(packages)
