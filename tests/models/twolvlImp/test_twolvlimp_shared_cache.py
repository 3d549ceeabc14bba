"""twolvlImp's imputed matrices as bytes, and their second cache level in the shared store (real Redis)."""

import io

import numpy as np
import pytest
import redis

from common.constants import SIDS_SET
from common.shared_store import RedisBlobStore, configure, shared_store
from models.twolvlImp.preprocess import Prepared, prepare
from models.twolvlImp.service import PreparedCache

TARGET, YEAR = "wdi-EG.ELC.ACCS.ZS", "2001"


@pytest.fixture(scope="module")
def prepared(dataset) -> Prepared:
    return prepare(dataset.year_table(YEAR), TARGET, SIDS_SET, "KNNImputer", 0)


@pytest.fixture
def redis_store(redis_conn):
    configure(RedisBlobStore(redis_conn, ttl_seconds=60))
    yield redis_conn
    configure(None)


def assert_same(left: Prepared, right: Prepared) -> None:
    assert (left.columns, left.train_countries, left.predict_countries) == (
        right.columns,
        right.train_countries,
        right.predict_countries,
    )
    for field in ("X_train", "y_train", "X_predict", "is_sids_train"):
        a, b = getattr(left, field), getattr(right, field)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
        assert not b.flags.writeable


def test_prepared_matrices_round_trip_through_bytes_and_pickles_are_refused(prepared):
    assert_same(prepared, Prepared.from_bytes(prepared.to_bytes()))
    buffer = io.BytesIO()
    np.savez(buffer, names=np.array([{"columns": []}], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        Prepared.from_bytes(buffer.getvalue())


def test_a_matrix_built_in_one_process_serves_another_through_redis(prepared, redis_store):
    builds = []
    first = PreparedCache(4, "test")
    key = ("fingerprint", YEAR, TARGET, "KNNImputer")
    assert first.get(key, lambda: builds.append(1) or prepared) is prepared
    assert builds == [1] and len(redis_store.keys("sids:shared:*")) == 1

    def never():
        raise AssertionError("a cache hit must not rebuild")

    other_process = PreparedCache(4, "test")
    assert_same(prepared, other_process.get(key, never))
    assert key in other_process
    assert_same(prepared, PreparedCache(4, "other-name").get(key, lambda: prepared))
    assert len(redis_store.keys("sids:shared:*")) == 2, "cache names keep their entries apart"


def test_without_a_shared_store_or_with_redis_down_matrices_are_built_locally(prepared):
    assert shared_store() is None
    assert PreparedCache(4, "test").get(("k",), lambda: prepared) is prepared
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    configure(RedisBlobStore(down, ttl_seconds=60))
    try:
        assert PreparedCache(4, "test").get(("k",), lambda: prepared) is prepared
    finally:
        configure(None)


def test_an_unreadable_shared_entry_is_rebuilt_and_replaced(prepared, redis_store):
    key = ("fingerprint", YEAR, TARGET, "KNNImputer")
    PreparedCache(4, "test").get(key, lambda: prepared)
    (name,) = redis_store.keys("sids:shared:*")
    redis_store.set(name, b"not an archive")
    assert PreparedCache(4, "test").get(key, lambda: prepared) is prepared
    assert_same(prepared, Prepared.from_bytes(redis_store.get(name)))
