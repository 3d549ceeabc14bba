"""common.cache.Memo: the bounded LRU of computed values behind twolvlImp's matrix and curve caches."""

from common.cache import Memo


def test_memo_builds_once_per_key_and_evicts_the_least_recently_used():
    memo, builds = Memo(2), []

    def build(key):
        return lambda: builds.append(key) or key * 10

    assert memo.get(1, build(1)) == 10 and memo.get(2, build(2)) == 20
    assert memo.get(1, build(1)) == 10 and builds == [1, 2]
    memo.get(3, build(3))
    assert 2 not in memo and 1 in memo and 3 in memo
    assert memo.get(2, build(2)) == 20 and builds == [1, 2, 3, 2]
