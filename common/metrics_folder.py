"""The folder where several processes share their metric samples (prometheus_client multiprocess mode).

prometheus_client picks its mode from one environment variable, PROMETHEUS_MULTIPROC_DIR, when it is
first imported. So the entry points (`api_app.app` for uvicorn, the queue worker) call
`prepare_multiprocess(settings)` before importing anything that imports `common.metrics`; this module
imports no metrics library itself.
"""

import logging
import multiprocessing
import os
import sys
import tempfile
from pathlib import Path

from common.settings import Settings

log = logging.getLogger(__name__)

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_folder(settings: Settings) -> Path | None:
    """Where this process's samples go: PROMETHEUS_MULTIPROC_DIR, else (in a process started by a
    multiprocessing parent, as `uvicorn --workers N` does) a folder named after the parent, so sibling
    workers share it; None for a single process."""
    if settings.prometheus_multiproc_dir is not None:
        return settings.prometheus_multiproc_dir
    if multiprocessing.parent_process() is None:
        return None
    return workers_folder(os.getppid())


def workers_folder(parent_pid: int) -> Path:
    """The samples folder of the workers of one parent process (uvicorn's, or `api_app.serve`'s master)."""
    return Path(tempfile.gettempdir()) / f"sids-metrics-{parent_pid}"


def multiprocess_mode() -> bool:
    """Whether prometheus_client writes samples to a shared folder (several processes)."""
    from prometheus_client import values

    return values.ValueClass is not values.MutexValue


def prepare_multiprocess(settings: Settings) -> Path | None:
    """Create the samples folder and hand it to prometheus_client (through the one variable it reads);
    the folder, or None for a single process. Once prometheus_client is imported its mode is fixed."""
    folder = multiprocess_folder(settings)
    if folder is None:
        return None
    if "prometheus_client" in sys.modules and not multiprocess_mode():
        log.warning("metrics were created before their folder was chosen; each process reports its own")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROCESS_VARIABLE] = str(folder)
    return folder
