"""The scoring lane of the compute processes: `scoring_workers` processes reserved for quick calls, so
a quick call never waits behind long computations; a general call never takes one of them; without
them a quick call waits like any other; a reserved process that overruns is replaced in its lane."""

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from common import zygote
from common.calls import Call
from common.errors import ComputeTimeout, Overloaded
from common.processes import GENERAL, SCORING, ProcessPool
from helpers.processes import PATIENCE, alive, wait_until

pytestmark = pytest.mark.skipif(not zygote.SUPPORTED, reason="no pidfd: the pool forks its processes itself")


def where(body: dict, data: None = None) -> dict:
    """Runs in a compute process: waits for the gate file `body["gate"]` to exist (if any) or sleeps
    `body["seconds"]`, and tells its pid."""
    gate = body.get("gate")
    deadline = time.monotonic() + PATIENCE
    while gate and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(body.get("seconds", 0))
    return {"pid": os.getpid()}


def before(events: list[str], first: str, then: str) -> bool:
    return first in events and then in events and events.index(first) < events.index(then)


def replaced(reason: str, lane: str) -> float:
    value = REGISTRY.get_sample_value(
        "sids_compute_processes_replaced_total", {"reason": reason, "lane": lane}
    )
    return value or 0.0


class Caller:
    """Calls into the pool from a thread of its own (its own event loop), recording events in order."""

    def __init__(self, pool: ProcessPool, events: list[str]) -> None:
        self.pool = pool
        self.events = events

    def start(self, name: str, body: dict, quick: bool = False, timeout: float = 60) -> threading.Thread:
        def run() -> None:
            call = Call.of(where, body)
            started = lambda: self.events.append(f"{name} started")  # noqa: E731
            try:
                answer = asyncio.run(self.pool.run(call, timeout, started=started, quick=quick))
                self.events.append(f"{name} answered by {json.loads(answer)['pid']}")
            except Exception as exc:  # recorded: the test asserts on it
                self.events.append(f"{name} failed: {type(exc).__name__}")

        thread = threading.Thread(target=run, name=name)
        thread.start()
        return thread


@pytest.fixture
def lanes(request):
    general, scoring, queue = request.param
    pool = ProcessPool(
        general, queue, lambda name: None, "process", start_method="fork", scoring_workers=scoring
    )
    pool.refresh()
    yield pool
    pool.shutdown()


def quick_pid(pool: ProcessPool, body: dict | None = None, timeout: float = 60) -> int:
    answer = asyncio.run(pool.run(Call.of(where, body or {}), timeout, quick=True))
    pid: int = json.loads(answer)["pid"]
    return pid


def waits_behind_a_long_call(
    pool: ProcessPool, gate: Path, name: str, quick: bool, meanwhile: Callable[[], None] = lambda: None
) -> None:
    """A long call holds the general process until `gate` exists; the call `name` (quick or not),
    started after it, waits (`meanwhile` runs then), starts only once the gate opened, and both are
    answered by the general process."""
    events: list[str] = []
    caller = Caller(pool, events)
    long = caller.start("long", {"gate": str(gate)})
    wait_until(lambda: "long started" in events, "the long call got its process")
    general = pool.pids(GENERAL)[0]
    waiting = caller.start(name, {}, quick=quick)
    wait_until(lambda: pool.in_flight == 2, f"the {name} call waits")
    meanwhile()
    events.append("gate opened")
    gate.touch()
    long.join(PATIENCE)
    waiting.join(PATIENCE)
    assert before(events, "gate opened", f"{name} started"), events
    assert {f"long answered by {general}", f"{name} answered by {general}"} <= set(events)


@pytest.mark.parametrize("lanes", [(1, 1, 4)], indirect=True)
def test_the_reserved_processes_are_forked_alike_and_kept_apart(lanes):
    pool = lanes
    assert len(pool.pids(GENERAL)) == 1 and len(pool.pids(SCORING)) == 1
    assert set(pool.pids()) == {*pool.pids(GENERAL), *pool.pids(SCORING)}
    assert pool._zygote is not None
    for pid in pool.pids():
        with open(f"/proc/{pid}/stat") as stat:
            assert int(stat.read().rsplit(")", 1)[1].split()[1]) == pool._zygote.pid, "forked by the zygote"
    # idle: a quick call takes the reserved process, a general one the general process
    assert quick_pid(pool) == pool.pids(SCORING)[0]
    general = json.loads(asyncio.run(pool.run(Call.of(where, {}), 60)))["pid"]
    assert general == pool.pids(GENERAL)[0]


@pytest.mark.parametrize("lanes", [(1, 1, 4)], indirect=True)
def test_a_quick_call_answers_while_the_general_process_is_busy(lanes, tmp_path):
    pool, events = lanes, list[str]()
    gate = tmp_path / "gate"
    caller = Caller(pool, events)
    long = caller.start("long", {"gate": str(gate)})
    wait_until(lambda: "long started" in events, "the long call got its process")
    reserved = pool.pids(SCORING)[0]
    assert quick_pid(pool) == reserved
    assert quick_pid(pool) == reserved, "the same reserved process, kept between calls"
    events.append("quick calls answered")
    gate.touch()
    long.join(PATIENCE)
    assert events == ["long started", "quick calls answered", f"long answered by {pool.pids(GENERAL)[0]}"]


@pytest.mark.parametrize("lanes", [(1, 1, 4)], indirect=True)
def test_a_general_call_never_takes_a_reserved_process(lanes, tmp_path):
    pool = lanes

    def the_reserved_process_is_free() -> None:
        assert quick_pid(pool) == pool.pids(SCORING)[0], "the reserved process was free all along"

    waits_behind_a_long_call(
        pool, tmp_path / "gate", "second", quick=False, meanwhile=the_reserved_process_is_free
    )


@pytest.mark.parametrize("lanes", [(1, 1, 4)], indirect=True)
def test_a_quick_call_takes_a_free_general_process_when_the_reserved_ones_are_busy(lanes, tmp_path):
    pool, events = lanes, list[str]()
    gate = tmp_path / "gate"
    caller = Caller(pool, events)
    first = caller.start("first quick", {"gate": str(gate)}, quick=True)
    wait_until(lambda: "first quick started" in events, "the first quick call got its process")
    assert quick_pid(pool) == pool.pids(GENERAL)[0]
    gate.touch()
    first.join(PATIENCE)
    assert events[-1] == f"first quick answered by {pool.pids(SCORING)[0]}"


@pytest.mark.parametrize("lanes", [(1, 0, 4)], indirect=True)
def test_without_reserved_processes_a_quick_call_waits_like_any_other(lanes, tmp_path):
    pool = lanes
    assert pool.pids(SCORING) == [] and len(pool.pids()) == 1
    waits_behind_a_long_call(pool, tmp_path / "gate", "quick", quick=True)


@pytest.mark.parametrize("lanes", [(1, 1, 1)], indirect=True)
def test_quick_calls_are_admitted_when_the_general_queue_is_full(lanes, tmp_path):
    pool, events = lanes, list[str]()
    gate = tmp_path / "gate"
    caller = Caller(pool, events)
    threads = [caller.start("long", {"gate": str(gate)}), caller.start("queued", {"gate": str(gate)})]
    wait_until(lambda: pool.in_flight == 2, "one call runs, one waits")
    with pytest.raises(Overloaded):
        asyncio.run(pool.run(Call.of(where, {}), 60))
    assert quick_pid(pool) == pool.pids(SCORING)[0]
    gate.touch()
    for thread in threads:
        thread.join(PATIENCE)
    assert sorted(e.split(" by ")[0] for e in events if "answered" in e) == [
        "long answered",
        "queued answered",
    ]


@pytest.mark.parametrize("lanes", [(1, 1, 4)], indirect=True)
def test_a_reserved_process_that_overruns_is_killed_and_replaced_in_its_lane(lanes):
    pool = lanes
    general, reserved = pool.pids(GENERAL)[0], pool.pids(SCORING)[0]
    before = replaced("timeout", SCORING)
    with pytest.raises(ComputeTimeout):
        quick_pid(pool, {"seconds": 30}, timeout=0.5)
    assert not alive(reserved), "the reserved process that overran was killed"
    assert replaced("timeout", SCORING) == before + 1
    (successor,) = pool.pids(SCORING)
    assert successor != reserved and alive(successor)
    assert pool.pids(GENERAL) == [general] and alive(general), "the general process is untouched"
    assert quick_pid(pool) == successor


@pytest.mark.parametrize("lanes", [(2, 1, 4)], indirect=True)
def test_refresh_and_shutdown_cover_the_reserved_processes(lanes):
    pool = lanes
    old = {GENERAL: pool.pids(GENERAL), SCORING: pool.pids(SCORING)}
    pool.refresh()
    assert len(pool.pids(GENERAL)) == 2 and len(pool.pids(SCORING)) == 1
    assert not set(pool.pids()) & {*old[GENERAL], *old[SCORING]}, "forked again after the refresh"
    wait_until(lambda: not any(alive(p) for p in [*old[GENERAL], *old[SCORING]]), "the stale ones stop")
    current = pool.pids()
    pool.shutdown()
    wait_until(lambda: not any(alive(p) for p in current), "every process stops at shutdown")
    assert pool.pids() == []
