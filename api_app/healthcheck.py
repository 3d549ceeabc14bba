"""`python -m api_app.healthcheck`: the container image's HEALTHCHECK, right for both of its roles.

A queue worker (PID 1 runs `api_app.worker`) serves no HTTP, so it is judged by its heartbeat files
(`common.heartbeat`); the web server by `GET /health/live` on its PORT.
"""

import sys
import urllib.request
from pathlib import Path

from common import heartbeat
from common.settings import get_settings

WORKER_MODULE = b"api_app.worker"


def runs_the_worker(cmdline: Path = Path("/proc/1/cmdline")) -> bool:
    try:
        return WORKER_MODULE in cmdline.read_bytes().split(b"\0")
    except OSError:
        return False


def main() -> int:
    settings = get_settings()
    if runs_the_worker():
        healthy, message = heartbeat.check(
            settings.worker_heartbeat_dir, settings.worker_heartbeat_max_age_seconds
        )
    else:
        url = f"http://127.0.0.1:{settings.port}/health/live"
        try:
            with urllib.request.urlopen(url, timeout=4) as response:
                healthy, message = response.status == 200, f"{url}: {response.status}"
        except OSError as exc:
            healthy, message = False, f"{url}: {exc}"
    print(message, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
