"""Where the API process's resident memory goes (issue 18): RSS by mapping, at each step.

    python bench/memory_breakdown.py [--models twolvlImp,sentiment,...] [--top 12]

Starts `uvicorn api_app:app` like `platform_startup.py` (default settings, every model unless
`--models`; DATA_CACHE_DIR a temporary folder filled by one unmeasured start first) and reads
`/proc/PID/smaps` of the server process at ready, once the warm-ups after readiness are done, after
one request to each main endpoint of the mounted models (`platform_startup.main_requests`) and after
a second round of the same requests. Each step prints VmRSS and the largest mappings, grouped:
`[anon]` (anonymous memory: Python objects, arrays), `[heap]`, `lib:<package>` (a site-packages
package's shared libraries), `so:<file>` (other shared libraries) and any other file by name (the
memory-mapped indicator values: `values.npy`), with the change since the step before.
"""

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from platform_startup import REPO_ROOT, Server, fill_data_cache, main_requests, rss_mib, server_env


def mapping_group(path: str) -> str:
    if not path:
        return "[anon]"
    if "site-packages/" in path:
        return "lib:" + path.split("site-packages/")[1].split("/")[0]
    if path.startswith("/") and ".so" in path:
        return "so:" + os.path.basename(path)
    return os.path.basename(path) if path.startswith("/") else path


def rss_by_mapping(pid: int) -> collections.Counter[str]:
    """KiB of RSS per mapping group of `pid` (`/proc/PID/smaps`)."""
    groups: collections.Counter[str] = collections.Counter()
    group = "[anon]"
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if not fields[0].endswith(":"):  # a mapping's header: address range, perms, …, path
                group = mapping_group(" ".join(fields[5:]))
            elif fields[0] == "Rss:":
                groups[group] += int(fields[1])
    return groups


def show(step: str, pid: int, before: collections.Counter[str] | None, top: int) -> collections.Counter[str]:
    groups = rss_by_mapping(pid)
    print(f"{step}: VmRSS {rss_mib(pid):.1f} MiB")
    for name, kib in groups.most_common(top):
        change = "" if before is None else f" ({(kib - before.get(name, 0)) / 1024:+.1f})"
        print(f"    {kib / 1024:7.1f} MiB{change}  {name}")
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="", help="MODEL_SERVICE (default: every model)")
    parser.add_argument("--top", type=int, default=12, help="mapping groups shown per step")
    args = parser.parse_args()
    env = server_env(args.models, tempfile.mkdtemp(prefix="sids-bench-cache-"))
    if not args.models:
        env.pop("MODEL_SERVICE")
    fill_data_cache(REPO_ROOT, env)
    server = Server(REPO_ROOT, env)
    try:
        server.wait_ready()
        pid = server.process.pid
        groups = show("at ready", pid, None, args.top)
        server.wait_settled()
        groups = show("warm-ups done", pid, groups, args.top)
        with httpx.Client(base_url=server.url, timeout=300) as client:
            mounted = {
                path.strip("/").split("/")[0].lower() for path in client.get("/openapi.json").json()["paths"]
            }
            requests = [
                (path, body)
                for path, body in main_requests(REPO_ROOT)
                if path.split("/")[1].lower() in mounted
            ]
            for label in ("after one request to each main endpoint", "after a second round"):
                for path, body in requests:
                    client.post(path, json=body).raise_for_status()
                time.sleep(0.5)
                groups = show(label, pid, groups, args.top)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
