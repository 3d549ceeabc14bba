"""Find model packages under `models/` and check each against the contract in
`common/model_package.py`; a package that fails to import or does not conform is recorded, not raised."""

import importlib
import logging
import pkgutil
import time
from dataclasses import dataclass, field
from typing import Literal

from fastapi import APIRouter

from common.model_package import Health, Resources, Warmup, conform

log = logging.getLogger(__name__)

WarmUpKind = Literal["warm-up", "compute warm-up"]
"""`WARMUP`, `COMPUTE_WARMUP`, as the log names them."""


@dataclass
class DiscoveredPackage:
    """A model package as the app mounts it, or the reason it is left out (`error`)."""

    name: str
    router: APIRouter | None = None
    required_resources: tuple[str, ...] = ()
    error: str | None = None
    health: Health | None = None
    warmup: Warmup | None = None
    compute_warmup: Warmup | None = None

    @property
    def mounted_router(self) -> APIRouter:
        """The router of a package that loaded (discovery mounts only those)."""
        if self.router is None:
            raise RuntimeError(f"model package {self.name} was not mounted: {self.error}")
        return self.router

    def warm_up(self, kind: WarmUpKind, resources: Resources, where: str = "", otherwise: str = "") -> bool:
        """Run the package's `WARMUP` (`kind` "warm-up") or `COMPUTE_WARMUP` ("compute warm-up"), if
        it has one, and log `<kind> of <name> done<where> in N s`; a failure only costs speed: it is
        logged with what follows from it (`otherwise`). Whether it ran through."""
        hook = self.warmup if kind == "warm-up" else self.compute_warmup
        if hook is None:
            return False
        started = time.perf_counter()
        try:
            hook(resources)
        except Exception:
            log.exception("%s of %s failed%s; %s", kind, self.name, where, otherwise)
            return False
        log.info("%s of %s done%s in %.2f s", kind, self.name, where, time.perf_counter() - started)
        return True

    @property
    def label(self) -> str:
        if self.router is not None and self.router.tags:
            return str(self.router.tags[0])
        return self.name


@dataclass
class Discovery:
    packages: list[DiscoveredPackage] = field(default_factory=list)

    @property
    def mounted(self) -> list[DiscoveredPackage]:
        return [p for p in self.packages if p.router is not None]


def _load(package: str, name: str) -> DiscoveredPackage:
    try:
        module = conform(importlib.import_module(f"{package}.{name}"))
        return DiscoveredPackage(
            name=name,
            router=module.router,
            required_resources=module.REQUIRED_RESOURCES,
            health=module.HEALTH,
            warmup=module.WARMUP,
            compute_warmup=module.COMPUTE_WARMUP,
        )
    except Exception as exc:
        log.exception("model package %s failed to load; it is left out", name)
        return DiscoveredPackage(name=name, error=f"{type(exc).__name__}: {exc}")


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
                DiscoveredPackage(
                    name=name, error=f"no model package named {name!r}; available: {', '.join(available)}"
                )
            )
            continue
        packages.append(_load(package, name))
    return Discovery(packages)
