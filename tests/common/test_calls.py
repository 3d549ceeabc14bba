"""The call envelope across the process boundary: context from parent to child, `in_parent` back,
errors as the HTTP errors they are, a crashed compute process replaced."""

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from common import calls
from common.calls import Call, in_parent, register_context
from common.errors import InvalidInput, Unavailable
from common.jobs.types import JobFailed
from common.processes import ProcessPool

CURRENT = {"trace": "none"}
RECORDED: list[tuple[str, int]] = []


class Echo(BaseModel):
    text: str = ""
    crash: bool = False


def echo(body: Echo, data: dict) -> dict:
    """Runs in a compute process: what it saw of the parent's context and data."""
    if body.crash:
        os._exit(1)
    if body.text == "bad":
        raise InvalidInput("text must not be bad", field="body.text")
    if body.text == "bug":
        raise ValueError("an internal invariant broke")
    in_parent(record, body.text, os.getpid())
    return {
        "trace": CURRENT["trace"],
        "text": body.text,
        "data": data["answer"],
        "pid": os.getpid(),
        "in_compute_process": calls.in_compute_process(),
    }


def record(text: str, pid: int) -> None:
    RECORDED.append((text, pid))


def capture() -> dict:
    return {"trace": CURRENT["trace"]}


@contextlib.contextmanager
def restore(context: dict):
    CURRENT["trace"] = context["trace"]
    yield


@pytest.fixture
def pool():
    register_context(capture, restore)
    processes = ProcessPool(1, 2, {"numbers": {"answer": 42}}.__getitem__, "process", start_method="fork")
    processes.refresh()
    yield processes
    processes.shutdown()
    calls._context_hooks.remove((capture, restore))


def run(pool: ProcessPool, body: Echo) -> bytes:
    return asyncio.run(pool.run(Call.of(echo, body, "numbers"), timeout=30))


def test_context_travels_to_the_child_and_in_parent_calls_come_back(pool):
    CURRENT["trace"] = "trace-1"
    RECORDED.clear()
    answer = run(pool, Echo(text="hello"))
    CURRENT["trace"] = "none"
    assert b'"trace":"trace-1"' in answer and b'"data":42' in answer and b'"text":"hello"' in answer
    assert b'"in_compute_process":true' in answer and not calls.in_compute_process()
    child = pool.pids()[0]
    assert child != os.getpid() and [("hello", child)] == RECORDED, "record ran here, with the child's pid"


def test_errors_come_back_as_their_http_errors_and_a_crash_is_replaced(pool):
    with pytest.raises(JobFailed) as failure:
        run(pool, Echo(text="bad"))
    assert failure.value.status_code == 422 and "must not be bad" in failure.value.message
    assert [e.field for e in failure.value.errors] == ["body.text"]
    with pytest.raises(JobFailed) as failure:
        run(pool, Echo(text="bug"))
    assert failure.value.status_code == 500 and failure.value.code == "internal_error"
    assert "has been logged" in failure.value.message and "invariant" not in failure.value.message
    crashed = pool.pids()[0]
    with pytest.raises(Unavailable, match="stopped unexpectedly"):
        run(pool, Echo(crash=True))
    assert b'"text":"after"' in run(pool, Echo(text="after"))
    assert crashed not in pool.pids()


HELD_STREAM_AT_FORK = r"""
import io, logging, os, sys, threading, time
from common.calls import renew_inherited_streams

mode, held = sys.argv[1:3]
read_end, write_end = os.pipe()
if held == "stderr":
    os.dup2(write_end, 2)
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), line_buffering=True)
    stream = sys.stderr
else:  # a log file of its own, not a standard stream
    stream = io.TextIOWrapper(io.BufferedWriter(io.FileIO(write_end, "w", closefd=False)), line_buffering=True)
logging.basicConfig(stream=stream, level=logging.INFO, format="%(message)s")
# A thread writes more than the pipe holds: it blocks inside the write, holding the stream's lock.
threading.Thread(target=lambda: (stream.write("x" * 200_000), stream.flush()), daemon=True).start()
time.sleep(0.5)
child = os.fork()
if child == 0:
    if mode == "renew":
        renew_inherited_streams()
    logging.info("child logged")
    logging.shutdown()  # flushes every handler, as a compute process does before it exits
    os._exit(0)
received, deadline = b"", time.monotonic() + 10
os.set_blocking(read_end, False)
while time.monotonic() < deadline and b"child logged" not in received:
    try:
        received += os.read(read_end, 65536)  # draining lets the parent's writer finish too
    except BlockingIOError:
        time.sleep(0.02)
print("logged" if b"child logged" in received else "hung", flush=True)
if b"child logged" not in received:
    os.kill(child, 9)
os.waitpid(child, 0)
os._exit(0)  # not a normal exit: it would flush the stream, whose lock the writer thread may hold again
"""


@pytest.mark.parametrize("held", ["stderr", "log file"])
@pytest.mark.parametrize("mode, outcome", [("renew", "logged"), ("inherit", "hung")])
def test_a_forked_child_logs_although_a_parent_thread_held_the_stream(mode, outcome, held):
    """What `serve` does first in a compute process: with the inherited stream (standard or a log
    handler's own), the child's first log line waits forever for a lock no thread of the child holds;
    with new streams it is written."""
    done = subprocess.run(
        [sys.executable, "-c", HELD_STREAM_AT_FORK, mode, held],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == outcome, done.stderr[-2000:]
