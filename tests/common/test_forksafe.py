"""A lock another thread holds when the process forks is free in the child (`common.forksafe`); a
compute process forked while the API process's dataset cache was locked still answers."""

import asyncio
import json
import os
import threading

import pytest

from common import forksafe, zygote
from common.calls import Call
from common.processes import ProcessPool
from common.settings import DEFAULT_DATASET_PATH
from shared_dataloader.indicators import read_indicator_dataset

PATIENCE = 20.0


def held_by_another_thread(lock) -> threading.Event:
    """Have a thread take `lock` and keep it until the returned event is set."""
    taken, done = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            taken.set()
            done.wait(PATIENCE)

    threading.Thread(target=hold, daemon=True).start()
    assert taken.wait(PATIENCE)
    return done


def child_can_take(lock) -> bool:
    """Fork; whether the child takes `lock` within a second (its exit status says)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0 if lock.acquire(timeout=1) else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("kind, free_in_child", [(forksafe.Lock, True), (threading.Lock, False)])
def test_a_lock_held_by_another_thread_at_the_fork(kind, free_in_child):
    lock = kind()
    done = held_by_another_thread(lock)
    try:
        assert child_can_take(lock) is free_in_child  # a plain lock stays held in the child
        assert lock.locked(), "the parent's lock is untouched"
    finally:
        done.set()


def year_table_rows(body: dict, data) -> int:
    """Runs in a compute process: the year table through the dataset's (inherited) cache lock."""
    return len(data.year_table(body["year"]))


@pytest.mark.skipif(not zygote.SUPPORTED, reason="no pidfd: the pool forks its processes itself")
def test_a_compute_process_forked_while_the_dataset_cache_is_locked_answers():
    dataset = read_indicator_dataset(DEFAULT_DATASET_PATH)
    pool = ProcessPool(1, 1, {"indicators": dataset}.__getitem__, "process", start_method="fork")
    done = held_by_another_thread(dataset._lock)  # a request thread in the table cache, say
    try:
        pool.refresh()  # the zygote, and the compute process, are forked now
    finally:
        done.set()
    try:
        call = Call.of(year_table_rows, {"year": "2001"}, "indicators")
        rows = json.loads(asyncio.run(pool.run(call, timeout=PATIENCE)))
        assert rows == len(dataset.year_table("2001")) and rows > 0
    finally:
        pool.shutdown()
