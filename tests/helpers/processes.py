"""Processes as the tests see them (`/proc`), and waiting for a condition with a time limit."""

import os
import time
from collections.abc import Callable

PATIENCE = 30.0
"""Seconds a test waits for a process to do what it should, before failing."""


def _stat_fields(pid: int) -> list[str]:
    """The fields of `/proc/PID/stat` after the command name (state first, then the parent's pid)."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """Running (a zombie is not: it waits for its parent to reap it)."""
    try:
        return _stat_fields(pid)[0] != "Z"
    except FileNotFoundError:
        return False


def gone(pid: int) -> bool:
    """Exited and reaped."""
    return not os.path.exists(f"/proc/{pid}")


def parent_of(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def wait_until(condition: Callable[[], object], what: str, patience: float = PATIENCE) -> None:
    """Return once `condition()` is true; fail, naming `what`, after `patience` seconds."""
    deadline = time.monotonic() + patience
    while not condition():
        assert time.monotonic() < deadline, f"not within {patience:g} s: {what}"
        time.sleep(0.01)
