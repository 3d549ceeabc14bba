"""Run a probe script in a fresh interpreter (what a new server process imports and holds)."""

import json
import os
import subprocess
import sys
from typing import Any

from common.settings import REPO_ROOT


def run_probe(script: str, args: list[str], env: dict[str, str], timeout: float = 600) -> Any:
    """`python -c script *args` from the repository root with `env` added to the environment; the
    JSON its last line of output prints (the test fails with its stderr if it exits non-zero)."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
