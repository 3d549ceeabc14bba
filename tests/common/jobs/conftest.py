"""Fixtures of the job tests."""

import pytest

from helpers.jobs import start_worker
from helpers.workers import stop_worker


@pytest.fixture
def worker(redis_conn, redis_url):
    """One queue worker (concurrency 1) for the test, killed afterwards."""
    process = start_worker(redis_url)
    yield process
    stop_worker(process)
