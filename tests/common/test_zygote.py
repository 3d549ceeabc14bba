"""The zygote: compute processes are forked from it, not from the API process; the compute warm-up runs
there only; a data refresh forks a new one and retires the old; a dead zygote is replaced; when the
API process dies, the zygote and its compute processes go with it."""

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest

from common import zygote
from common.calls import Call
from common.processes import ProcessPool
from common.settings import REPO_ROOT
from helpers.processes import alive, gone, parent_of, wait_until

pytestmark = pytest.mark.skipif(not zygote.SUPPORTED, reason="no pidfd: the pool forks its processes itself")

WARMED: list[int] = []
"""Pids of the processes the warm-up ran in (in the process that ran it, and those forked from it)."""


def warm_up() -> None:
    WARMED.append(os.getpid())


def report(body: dict, data: dict) -> dict:
    """Runs in a compute process: its pid, its parent's, what the warm-up left, the data it sees."""
    return {"pid": os.getpid(), "parent": os.getppid(), "warmed": WARMED, "answer": data["answer"]}


@pytest.fixture
def pool():
    data = {"numbers": {"answer": 42}}
    processes = ProcessPool(2, 2, data.__getitem__, "process", start_method="fork")
    processes.refresh()
    yield processes, data
    processes.shutdown()


def call(processes: ProcessPool) -> dict:
    answer: dict = json.loads(asyncio.run(processes.run(Call.of(report, {}, "numbers"), timeout=60)))
    return answer


def test_compute_processes_are_forked_by_the_zygote_which_ran_the_warm_up_not_here(pool):
    processes, _ = pool
    WARMED.clear()
    processes.warm_up(warm_up)
    assert WARMED == [], "the compute warm-up did not run in this process"
    answer = call(processes)
    zygote_pid = answer["parent"]
    assert answer["answer"] == 42
    assert answer["warmed"] == [zygote_pid] != [answer["pid"]], "it ran once, in the zygote"
    assert zygote_pid != os.getpid() and parent_of(zygote_pid) == os.getpid()
    assert all(parent_of(pid) == zygote_pid for pid in processes.pids())


def test_a_refresh_forks_a_new_zygote_on_the_new_data_and_the_old_one_leaves(pool):
    processes, data = pool
    before = call(processes)
    data["numbers"] = {"answer": 43}
    processes.refresh()
    after = call(processes)
    assert after["answer"] == 43 and after["parent"] != before["parent"]
    assert before["pid"] not in processes.pids()
    wait_until(lambda: gone(before["pid"]) and gone(before["parent"]), "the old zygote and its process exit")


def test_a_dead_zygote_is_replaced_by_the_next_fork(pool):
    processes, _ = pool
    first = call(processes)
    os.kill(first["parent"], signal.SIGKILL)
    wait_until(lambda: not any(alive(pid) for pid in processes.pids()), "its orphaned processes leave")
    answer = call(processes)
    assert answer["answer"] == 42 and answer["parent"] != first["parent"]


API_PROCESS = """
import asyncio, json, sys
sys.path[:0] = ["tests", "tests/common"]
from common.calls import Call
from common.processes import ProcessPool
from test_zygote import report

processes = ProcessPool(2, 2, {"numbers": {"answer": 1}}.__getitem__, "process", start_method="fork")
processes.refresh()
answer = json.loads(asyncio.run(processes.run(Call.of(report, {}, "numbers"), timeout=60)))
print(json.dumps({"zygote": answer["parent"], "compute": processes.pids()}), flush=True)
sys.stdin.read()
"""


def test_when_the_api_process_dies_its_zygote_and_compute_processes_die_too():
    api = subprocess.Popen(
        [sys.executable, "-c", API_PROCESS],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert api.stdout is not None
        started = json.loads(api.stdout.readline())
        assert len(started["compute"]) == 2 and all(alive(pid) for pid in started["compute"])
        api.kill()
        api.wait()
        everything = [started["zygote"], *started["compute"]]
        wait_until(lambda: not any(alive(pid) for pid in everything), "the zygote and compute processes exit")
    finally:
        api.kill()
        api.wait()
