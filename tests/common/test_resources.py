"""Loaded data shared by models: states, waiting for a cold start, and the 503 reasons."""

import asyncio
import threading
import time

import pytest

from common.errors import Unavailable
from common.resources import ResourceStore


def test_a_request_during_loading_waits_for_the_data():
    store = ResourceStore()
    store.expect("indicators")
    threading.Timer(0.3, store.set_ready, args=("indicators", "tables")).start()
    started = time.monotonic()
    asyncio.run(store.wait_loaded("indicators", timeout=10))
    assert 0.25 < time.monotonic() - started < 5
    assert store.get("indicators") == "tables"


def test_waiting_is_bounded_then_the_answer_is_503_with_retry_after():
    store = ResourceStore()
    store.expect("indicators")
    asyncio.run(store.wait_loaded("indicators", timeout=0.2))
    with pytest.raises(Unavailable) as error:
        store.get("indicators")
    assert "still loading" in error.value.message
    assert error.value.headers == {"Retry-After": "2"}


def test_failed_and_unknown_data_name_the_reason():
    store = ResourceStore()
    store.set_failed("indicators", "indicatorMeta.csv: file not found")
    with pytest.raises(Unavailable, match=r"could not be loaded: indicatorMeta\.csv: file not found"):
        store.get("indicators")
    with pytest.raises(Unavailable, match="'survey' is not configured"):
        store.get("survey")
    assert store.snapshot() == {
        "indicators": {"state": "failed", "error": "indicatorMeta.csv: file not found"}
    }
