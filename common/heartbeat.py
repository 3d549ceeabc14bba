"""Liveness of queue workers, local to the pod: `python -m common.heartbeat` (the exec probe).

Every worker process touches `<WORKER_HEARTBEAT_DIR>/<pid>` at each turn of its loop (waiting for a
job, and every monitoring interval while a job runs), before it talks to Redis: a worker waiting out
a Redis outage keeps its heartbeat, a hung one does not. The check passes when at least one worker
process of this pod has a file and every live worker's file is younger than
WORKER_HEARTBEAT_MAX_AGE_SECONDS; files of processes that are gone are removed.
"""

import os
import sys
import time
from pathlib import Path


def beat(folder: Path, pid: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(pid)).touch()


def forget(folder: Path, pid: int) -> None:
    (folder / str(pid)).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check(folder: Path, max_age: float, now: float | None = None) -> tuple[bool, str]:
    """(healthy, what was found) for the worker processes with a heartbeat file in `folder`."""
    now = time.time() if now is None else now
    ages: dict[int, float] = {}
    for path in folder.glob("*") if folder.is_dir() else ():
        if not path.name.isdigit():
            continue
        pid = int(path.name)
        if not _alive(pid):
            forget(folder, pid)
            continue
        try:
            ages[pid] = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
    if not ages:
        return False, f"no running worker has a heartbeat in {folder}"
    stale = {pid: age for pid, age in ages.items() if age > max_age}
    if stale:
        listed = ", ".join(f"pid {pid} {age:.0f} s ago" for pid, age in sorted(stale.items()))
        return False, f"worker loop stalled (last heartbeat {listed}; limit {max_age:.0f} s)"
    return True, f"{len(ages)} worker(s) alive, newest heartbeat {min(ages.values()):.1f} s ago"


def main() -> int:
    from common.settings import get_settings

    settings = get_settings()
    healthy, message = check(settings.worker_heartbeat_dir, settings.worker_heartbeat_max_age_seconds)
    print(message, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
