"""Cold start and memory of the server with every model (issue 18), in machine units of the same run.

    python bench/platform_startup.py [--runs 5] [--model-service ...] [--repo PATH] [--skip ...] [--poll S]

Sections (each prints medians over `--runs` fresh servers; `--skip importtime,workers,cold,jobs`
leaves some out):

- startup: `uvicorn api_app:app` (one worker, default settings: no auth, no tracing) is started in a
  fresh process; the time until `GET /health/ready` answers 200 (every model loaded, warmed, able to
  answer), in seconds and units (target ≤ 1.0; replaced system ≈ 2 units with fewer models). The
  server's DATA_CACHE_DIR is a temporary folder filled by one unmeasured start first, as the image
  ships it. A startup timeline (seconds after the process started) comes from one run's log lines.
- memory: resident memory (VmRSS) of the server process at ready, once the warm-ups that run after
  readiness are done (and the compute processes forked again), and after one request to each main
  endpoint (target ≤ 200 MiB; replaced system 240 MB); PSS of the server with every process under it
  (its zygote and compute processes) alongside. The timeline is read after the requests, so it shows
  the warm-ups too.
- workers: the PSS of the server with one and with two worker processes, each with its compute
  processes, and what the second adds (target ≤ 60 MiB): `uvicorn --workers` (each worker a fresh
  interpreter that loads everything again) and `python -m api_app.serve` (workers forked from a
  master that loaded the data and ran the warm-ups; the master is counted), alternately. Both with
  JOB_BACKEND=redis (several forked workers need it; no request is sent).
- importtime: `python -X importtime` of building the app: the slowest top-level imports.
- cold: the first twolvlImp predict (simple KNN, simple IterativeImputer) of a fresh server, sent the
  moment it is ready (the warm-ups still running: its compute process imports scikit-learn itself) and
  once the warm-ups are done.
- jobs: a queue worker (`python -m api_app.worker`, redis://127.0.0.1:6379/14, flushed) forks a work
  horse per job; the time per trivial job with the forking worker minus that of rq's non-forking
  SimpleWorker on the same jobs is the job's start-up overhead (fork + imports + data), target ≤ 0.05 u.

`--repo PATH` measures another checkout (e.g. main before a change) with this same script, so a
before/after table comes from one run on one machine.
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from models.flight_delay.spec import EXAMPLE as FLIGHT  # noqa: E402 (after the sys.path entry)
from models.twolvlImp.schemas import SIMPLE_EXAMPLE  # noqa: E402

READY_TIMEOUT = 180
READY_POLL_SECONDS = 0.01
"""Pause between `/health/ready` polls (`--poll`). Every poll is a request the starting server answers
on its event loop while its start-up thread imports and loads: at 10 ms they compete for the GIL
(imports release it at every file access and wait to get it back), a Kubernetes probe every 5–10 s
does not."""
JOBS_REDIS = "redis://127.0.0.1:6379/14"
SENTENCE = "The battery lasts all day, great phone."
SETTLE_SECONDS = 1.0
COMPUTE_STARTED = re.compile(r"compute processes started")
WARM_UPS_DONE = re.compile(r"warm-ups done|compute processes forked again")
"""The server's line once the warm-ups after readiness are done (older checkouts: only when some ran)."""
TIMELINE_MARKS = (
    (re.compile(r"Started server process"), "uvicorn started (app imported and built)"),
    (re.compile(r"Application startup complete"), "port open (lifespan done)"),
    (re.compile(r"data (\S+) loaded"), "data {0} loaded"),
    (COMPUTE_STARTED, "compute processes started (ready from here)"),
    (re.compile(r"(?<!compute )warm-up of (\S+) done"), "warm-up of {0} done"),
    (re.compile(r"compute warm-up of (\S+) done"), "compute warm-up of {0} done (in the zygote)"),
    (WARM_UPS_DONE, "warm-ups done"),
)


def fill_data_cache(repo: Path, env: dict[str, str]) -> None:
    """One unmeasured start of `repo` with `env`: it builds DATA_CACHE_DIR's entries (as the image ships
    them; the first start parses the CSVs and its API process keeps more memory) and warms the OS page
    cache, so that the measured starts read what a deployed one reads."""
    server = Server(repo, env)
    try:
        server.wait_ready()
        server.wait_warm_ups()
    finally:
        server.stop()


def timed_posts(client: httpx.Client, path: str, body: dict, count: int) -> list[float]:
    """Seconds each of `count` sequential POSTs of `body` to `path` took (each must succeed)."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.post(path, json=body).raise_for_status()
        times.append(time.perf_counter() - started)
    return times


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def pss_mib(pid: int, field: str = "Pss") -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(c) for c in text)
    return found


def calibrate(repo: Path) -> float:
    out = subprocess.run(
        [sys.executable, str(repo / "bench" / "calibrate.py")], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def main_requests(repo: Path) -> list[tuple[str, dict]]:
    survey = repo / "shared_dataloader" / "data" / "sids" / "survey"
    data = json.loads((survey / "data.json").read_text())
    metadata = json.loads((survey / "metadata.json").read_text())
    factor = sorted({row["Factor"] for row in metadata if row.get("Factor")})[0]
    return [
        (
            "/twolvlImp/predict",
            {**SIMPLE_EXAMPLE, "history": False},
        ),
        (
            "/correlation/correlate",
            {"dataset": "wdi", "category": "Financial Sector", "country": "SGP", "year": "2014"},
        ),
        ("/statimpute/impute", {"target": "wdi-EG.ELC.ACCS.ZS", "country": "CUB", "method": "linear"}),
        ("/survey/clustering", {"data": data, "metadata": metadata, "factor": factor, "max_k": 10}),
        ("/sampleapi/predict", {"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2015"}),
        ("/flight_delay/predict", {"instances": [FLIGHT]}),
        ("/sentiment/predict", {"instances": [SENTENCE]}),
        (
            "/v2/models/sentiment/infer",
            {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [SENTENCE]}]},
        ),
    ]


class Server:
    """`uvicorn api_app:app` in a fresh process; its log lines are time-stamped as they arrive."""

    poll_seconds = READY_POLL_SECONDS

    def __init__(self, repo: Path, env: dict[str, str], workers: int = 1, forked: bool = False) -> None:
        self.port = free_port()
        self.lines: list[tuple[float, str]] = []
        self.started = time.perf_counter()
        if forked:
            command = [
                sys.executable,
                "-m",
                "api_app.serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ]
        else:
            command = [sys.executable, "-m", "uvicorn", "api_app:app", "--port", str(self.port)]
            if workers > 1:
                command += ["--workers", str(workers)]
        self.process = subprocess.Popen(
            command,
            cwd=repo,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None  # started with stderr=PIPE
        for line in self.process.stderr:
            self.lines.append((time.perf_counter() - self.started, line.rstrip()))

    def wait_ready(self) -> float:
        while True:
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.perf_counter() - self.started > READY_TIMEOUT:
                tail = "\n".join(line for _, line in self.lines[-20:])
                raise RuntimeError(f"server did not become ready:\n{tail}")
            time.sleep(self.poll_seconds)

    def wait_warm_ups(self) -> None:
        """Wait until the warm-ups that run after readiness are done and the compute processes forked
        again (a checkout that runs them before readiness has nothing to wait for)."""
        deadline = time.perf_counter() + READY_TIMEOUT
        while any(COMPUTE_STARTED.search(line) for _, line in self.lines) and time.perf_counter() < deadline:
            if any(WARM_UPS_DONE.search(line) for _, line in self.lines):
                return
            time.sleep(0.1)

    def wait_settled(self) -> None:
        """`wait_warm_ups`, then `SETTLE_SECONDS` for the processes forked after them to settle, before
        a figure is taken."""
        self.wait_warm_ups()
        time.sleep(SETTLE_SECONDS)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def timeline(self) -> list[tuple[float, str]]:
        marks = []
        for at, line in self.lines:
            for pattern, label in TIMELINE_MARKS:
                match = pattern.search(line)
                if match:
                    marks.append((at, label.format(*match.groups())))
        return marks


def server_env(model_service: str, cache_dir: str) -> dict[str, str]:
    return {
        "MODEL_SERVICE": model_service,
        "DATA_CACHE_DIR": cache_dir,
        "STATE_DIR": tempfile.mkdtemp(prefix="sids-bench-state-"),
        "MACHINE_SPEED_PROBE": "false",
        "LOG_FORMAT": "text",
    }


def one_start(repo: Path, env: dict[str, str], requests: list[tuple[str, dict]]) -> dict:
    server = Server(repo, env)
    try:
        ready = server.wait_ready()
        pid = server.process.pid
        figures: dict[str, Any] = {
            "ready": ready,
            "rss_ready": rss_mib(pid),
            "pss_tree_ready": tree_pss(pid)[0],
        }
        server.wait_settled()
        figures.update(rss_warm=rss_mib(pid), pss_tree_warm=tree_pss(pid)[0])
        with httpx.Client(base_url=server.url, timeout=120) as client:
            models = client.get("/").json()["models"]
            failed = []
            for path, body in requests:
                response = client.post(path, json=body)
                if response.status_code != 200:
                    failed.append(f"{path} {response.status_code}")
        time.sleep(1)
        figures.update(
            # taken after the requests, so that it shows the warm-ups that run after readiness too
            timeline=sorted([*server.timeline(), (ready, "GET /health/ready 200")]),
            rss_after=rss_mib(pid),
            pss_tree_after=tree_pss(pid)[0],
            failed=failed,
            models=models,
        )
        return figures
    finally:
        server.stop()


def tree_pss(pid: int) -> tuple[float, float]:
    """PSS of `pid` and every process under it (workers, their compute processes): all of it, and its
    anonymous part. Mapped files (libraries) are shared with every process on the host that maps
    them, other people's servers too, so their share moves with what else runs; anonymous memory is
    shared only within this tree."""
    try:
        below = [tree_pss(child) for child in children(pid)]
        return (
            pss_mib(pid) + sum(total for total, _ in below),
            pss_mib(pid, "Pss_Anon") + sum(anonymous for _, anonymous in below),
        )
    except (FileNotFoundError, ProcessLookupError):  # it exited meanwhile (a retired zygote)
        return 0.0, 0.0


def workers_pss(repo: Path, env: dict[str, str], workers: int, forked: bool) -> tuple[float, float]:
    """PSS of a server of `workers` workers at ready and idle, compute processes included. uvicorn: the
    worker processes (not its supervisor, which holds no app; one worker is the server process itself);
    forked (`api_app.serve`): the master, which holds the loaded data, and everything under it."""
    queue_env = {
        "JOB_BACKEND": "redis",
        "REDIS_URL": JOBS_REDIS,
    }  # several workers need it (serve refuses local)
    prometheus = {"PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="sids-bench-prom-")}
    server = Server(repo, {**env, **queue_env, **prometheus}, workers, forked)
    try:
        ready = server.wait_ready()
        time.sleep(max(3.0, ready))  # the workers start together; readiness is answered by either
        if forked or workers == 1:
            return tree_pss(server.process.pid)
        pids = [
            p
            for p in children(server.process.pid)
            if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        trees = [tree_pss(p) for p in pids]
        return sum(total for total, _ in trees), sum(anonymous for _, anonymous in trees)
    finally:
        server.stop()


def importtime(repo: Path, top: int) -> tuple[list[tuple[float, str]], list[tuple[float, float, str]]]:
    """(seconds of import per library, summed over its modules' own times; the slowest single
    imports made directly by the app's modules: (cumulative, own seconds, module))."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "from api_app.factory import create_app; create_app()"],
        cwd=repo,
        env={**os.environ, "STATE_DIR": tempfile.mkdtemp(prefix="sids-bench-state-")},
        capture_output=True,
        text=True,
    )
    by_library: dict[str, float] = {}
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if not match:
            continue
        own, cumulative, depth, name = (
            int(match.group(1)) / 1e6,
            int(match.group(2)) / 1e6,
            len(match.group(3)),
            match.group(4),
        )
        library = name.split(".")[0]
        by_library[library] = by_library.get(library, 0.0) + own
        if not name.startswith(("api_app", "common", "models", "shared_dataloader")) and depth <= 7:
            rows.append((cumulative, own, name))
    libraries = sorted(((s, n) for n, s in by_library.items()), reverse=True)[:top]
    return libraries, sorted(rows, reverse=True)[:top]


COLD_REQUESTS = {
    "simple KNN (target ≤ 0.1 u)": {**SIMPLE_EXAMPLE, "history": False},
    "simple IterativeImputer (target ≤ 2 u)": {
        **SIMPLE_EXAMPLE,
        "history": False,
        "interpolator": "IterativeImputer",
    },
}


def first_request(repo: Path, env: dict[str, str], body: dict, settled: bool) -> float:
    """Seconds of the first twolvlImp predict of a fresh server, sent the moment it is ready, or once
    the warm-ups that run after readiness are done (`settled`)."""
    server = Server(repo, env)
    try:
        server.wait_ready()
        if settled:
            server.wait_settled()
        started = time.perf_counter()
        response = httpx.post(f"{server.url}/twolvlImp/predict", json=body, timeout=120)
        if response.status_code != 200:
            raise RuntimeError(f"twolvlImp answered {response.status_code}: {response.text[:300]}")
        return time.perf_counter() - started
    finally:
        server.stop()


JOB_CHILD = """
import sys, time
import redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer
from api_app.worker import worker_class
from common.settings import get_settings

mode, jobs = sys.argv[1], int(sys.argv[2])
connection = redis.Redis.from_url(sys.argv[3])
connection.flushdb()
queue = Queue("bench-jobs", connection=connection, serializer=JSONSerializer)
for _ in range(jobs):
    queue.enqueue("os.getpid")
cls = worker_class(get_settings()) if mode == "fork" else SimpleWorker
worker = cls([queue], connection=connection, serializer=JSONSerializer)
started = time.perf_counter()
worker.work(burst=True, logging_level="ERROR")
print((time.perf_counter() - started) / jobs)
"""

JOB_PRELOAD = """
import sys
from api_app import worker
from api_app.discovery import discover
from common.jobs.task import preload
from common.settings import get_settings
settings = get_settings()
discovery = discover(settings.model_service)
preload(sorted({n for p in discovery.mounted for n in p.required_resources}), settings)
if hasattr(worker, "_warm_up"):
    worker._warm_up(discovery)
""" + JOB_CHILD.replace("import sys, time", "import time")


def job_overhead(repo: Path, env: dict[str, str], jobs: int) -> tuple[float, float]:
    """Seconds per trivial job: forking worker (data and models loaded first, as api_app.worker does)
    and rq's SimpleWorker (no fork)."""
    seconds = {}
    for mode in ("fork", "simple"):
        out = subprocess.run(
            [sys.executable, "-c", JOB_PRELOAD, mode, str(jobs), JOBS_REDIS],
            cwd=repo,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        seconds[mode] = float(out.stdout.strip().splitlines()[-1])
    return seconds["fork"], seconds["simple"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model-service", default="", help="MODEL_SERVICE (default: every model)")
    parser.add_argument(
        "--repo", type=Path, default=REPO_ROOT, help="checkout to measure (default: this one)"
    )
    parser.add_argument("--skip", default="", help="comma-separated: importtime,workers,cold,jobs")
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument(
        "--poll", type=float, default=READY_POLL_SECONDS, help="seconds between readiness polls (0.01)"
    )
    args = parser.parse_args()
    Server.poll_seconds = args.poll
    skip = set(filter(None, args.skip.split(",")))
    repo = args.repo.resolve()
    print(f"checkout: {repo}; readiness polled every {args.poll:g} s; load average: {os.getloadavg()[0]:.2f}")
    unit_before = calibrate(REPO_ROOT)
    env = server_env(args.model_service, tempfile.mkdtemp(prefix="sids-bench-cache-"))
    requests = main_requests(repo)
    one_start(repo, env, requests)  # fills DATA_CACHE_DIR, warms the OS page cache
    runs = [one_start(repo, env, requests) for _ in range(args.runs)]
    unit = statistics.median([unit_before, calibrate(REPO_ROOT)])
    print(f"machine unit (bench/calibrate.py, this run): {unit:.3f} s; load average {os.getloadavg()[0]:.2f}")
    print(f"models: {', '.join(runs[0]['models'])}")
    if runs[0]["failed"]:
        print(f"main endpoints that did not answer 200: {', '.join(runs[0]['failed'])}")

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    ready = median("ready")
    listed = ", ".join(f"{r['ready']:.2f}" for r in runs)
    print(
        f"startup to ready: median {ready:.2f} s = {ready / unit:.2f} units "
        f"(runs: {listed} s; target ≤ 1.0 u; replaced system ≈ 2 u)"
    )
    print(
        f"RSS at ready: {median('rss_ready'):.0f} MiB; once the warm-ups after readiness are done: "
        f"{median('rss_warm'):.0f} MiB; after one request to each main endpoint: "
        f"{median('rss_after'):.0f} MiB (target ≤ 200 MiB; replaced system 240 MB)"
    )
    print(
        f"PSS of the server and the processes under it: {median('pss_tree_ready'):.0f} MiB at ready, "
        f"{median('pss_tree_warm'):.0f} MiB after the warm-ups, {median('pss_tree_after'):.0f} MiB after "
        "the requests"
    )
    middle = sorted(runs, key=lambda r: r["ready"])[len(runs) // 2]
    print("startup timeline (one run, seconds after the process started):")
    for at, label in middle["timeline"]:
        print(f"  {at:6.2f} s  {at / unit:5.2f} u  {label}")

    if "workers" not in skip:
        modes = [("uvicorn --workers", False)]
        if (repo / "api_app" / "serve.py").exists():
            modes.append(("python -m api_app.serve (forked after loading)", True))
        repeats = max(1, args.runs // 2)
        figures: dict[tuple[bool, int], list[tuple[float, float]]] = {}
        for _ in range(repeats):  # the modes alternate, so both see the same load
            for _label, preforked in modes:
                for count in (1, 2):
                    figures.setdefault((preforked, count), []).append(
                        workers_pss(repo, env, count, preforked)
                    )
        print(
            f"worker processes (PSS at ready, compute processes included, median of {repeats}; "
            "in brackets its anonymous part, which other processes on the host do not share):"
        )
        for label, preforked in modes:
            singles, pairs = figures[(preforked, 1)], figures[(preforked, 2)]
            one, one_anonymous = (statistics.median(f[i] for f in singles) for i in (0, 1))
            two, two_anonymous = (statistics.median(f[i] for f in pairs) for i in (0, 1))
            added = ", ".join(f"{b[0] - a[0]:.0f}" for a, b in zip(singles, pairs, strict=True))
            print(
                f"  {label}: 1 worker {one:.0f} MiB ({one_anonymous:.0f}); 2 workers {two:.0f} MiB "
                f"({two_anonymous:.0f}): the second adds {two - one:.0f} MiB "
                f"({two_anonymous - one_anonymous:.0f}; per repeat {added}) (target ≤ 60 MiB)"
            )
    if "importtime" not in skip:
        libraries, rows = importtime(repo, 12)
        total = sum(s for s, _ in libraries)
        print("python -X importtime of building the app (create_app, every model), seconds per library:")
        print(
            "  "
            + ", ".join(f"{name} {seconds:.2f}" for seconds, name in libraries)
            + f" (top {len(libraries)}: {total:.2f} s)"
        )
        print("  slowest imports made by the app's own modules (cumulative / own seconds):")
        for cumulative, own, name in rows:
            print(f"    {cumulative:6.3f}  {own:6.3f}  {name}")
    if "cold" not in skip:
        print("first twolvlImp request of a fresh server (median of 2 servers each):")
        for name, body in COLD_REQUESTS.items():
            for settled in (False, True):
                seconds = statistics.median(first_request(repo, env, body, settled) for _ in range(2))
                when = "once the warm-ups are done" if settled else "sent the moment it is ready"
                print(f"  {name}, {when}: {seconds:.2f} s = {seconds / unit:.2f} u")
    if "jobs" not in skip:
        forked, simple = job_overhead(repo, env, args.jobs)
        overhead = forked - simple
        print(
            f"queue worker, per trivial job: forking work horse {forked * 1000:.1f} ms, SimpleWorker "
            f"{simple * 1000:.1f} ms: start-up overhead {overhead * 1000:.1f} ms = {overhead / unit:.3f} u "
            "(target ≤ 0.05 u)"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
