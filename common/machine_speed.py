"""How fast this host is, in the benchmarks' machine unit: seconds to fit a fixed random forest
(210 × 379 normal features, 100 trees, one thread), as `bench/calibrate.py` prints it.

The service measures it once in the background after it is ready (`HOST.measure_in_background`),
with a fifth of the trees (tree fitting time is linear in their number), so that estimates of model
durations hold on the machine that serves them, loaded or not; the fit runs in a compute process
(`probe`), where the computations it stands for run and scikit-learn is already imported, so the API
process does not import it. Nothing waits for it: until it is measured `HOST.unit_seconds` is None.
"""

import logging
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

ROWS, COLUMNS, TREES = 210, 379, 100
PROBE_TREES = 20
PROBE_RUNS = 3


def fixed_workload(trees: int = TREES) -> float:
    """Seconds to fit the fixed forest once with `trees` trees (seeded data, one thread)."""
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(0)
    features = rng.normal(size=(ROWS, COLUMNS))
    target = features[:, :10].sum(axis=1) + rng.normal(size=ROWS)
    started = time.perf_counter()
    RandomForestRegressor(n_estimators=trees, random_state=0, n_jobs=1).fit(features, target)
    return time.perf_counter() - started


def machine_unit(trees: int = TREES, runs: int = 3) -> float:
    """The machine unit: median of `runs` fits, scaled to 100 trees."""
    return statistics.median(fixed_workload(trees) for _ in range(runs)) * TREES / trees


def probe(body: Any = None, data: Any = None) -> float:
    """The service's measurement (a model function: it runs as a call in a compute process)."""
    return machine_unit(PROBE_TREES, PROBE_RUNS)


class HostSpeed:
    """The machine unit of this host, measured once per process in a background thread."""

    def __init__(self) -> None:
        self.unit_seconds: float | None = None
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None

    def measure_in_background(self, measure: Callable[[], float] = probe) -> None:
        """Set `unit_seconds` to `measure()` in a background thread (once per process)."""
        if not self._started.acquire(blocking=False):
            return
        self._thread = threading.Thread(
            target=self._measure, args=(measure,), name="machine-speed", daemon=True
        )
        self._thread.start()

    def wait(self, timeout: float | None = None) -> float | None:
        """The unit once measured (for tools and tests; the service never waits)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.unit_seconds

    def _measure(self, measure: Callable[[], float]) -> None:
        try:
            self.unit_seconds = measure()
            log.info(
                "machine unit of this host: %.3f s (fixed forest, %d trees scaled to %d)",
                self.unit_seconds,
                PROBE_TREES,
                TREES,
            )
        except Exception:
            log.exception("could not measure this host's speed; estimates use the default unit")


HOST = HostSpeed()
