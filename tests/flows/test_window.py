"""The submission window of the Dask ingest with an embedded store: batches are prepared a few
ahead of the writes, and each result is released once used (memory bounded by the window)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from chunkwise.flows.dask import cluster_threads, release_result
from chunkwise.flows.window import submit_in_window


def test_at_most_ahead_futures_exist_and_every_item_comes_back_once():
    """Work finishing out of order on a real thread pool: never more than ``ahead`` futures are
    submitted and not yet taken, and the later items are submitted only as earlier ones are taken."""
    ahead, lock = 3, threading.Lock()
    submitted: list[int] = []
    outstanding, most = 0, 0

    def work(item: int) -> int:
        time.sleep(0.01 * (item % 3))  # out of order
        return item * item

    with ThreadPoolExecutor(max_workers=2) as pool:

        def submit(item: int) -> Future[int]:
            nonlocal outstanding, most
            with lock:
                outstanding += 1
                most = max(most, outstanding)
                submitted.append(item)
            return pool.submit(work, item)

        taken = []
        for item, future in submit_in_window(range(10), submit, ahead):
            with lock:
                outstanding -= 1
            assert future.result() == item * item
            if not taken:
                assert submitted == [0, 1, 2]  # nothing beyond the window before the first is taken
            taken.append(item)
    assert most == ahead
    assert sorted(taken) == list(range(10)) and sorted(submitted) == list(range(10))


def test_no_items_and_a_bad_window():
    assert list(submit_in_window([], lambda item: pytest.fail("nothing to submit"), 2)) == []
    with pytest.raises(ValueError, match="at least 1"):
        next(submit_in_window([1], Future, 0))


class _Wrapped:
    released = False

    def release(self) -> None:
        self.released = True


class _DaskLikeFuture:
    """Stands in for prefect-dask's future: a Prefect future around a ``distributed.Future``."""

    def __init__(self) -> None:
        self.wrapped_future = _Wrapped()


def test_release_result_releases_the_wrapped_future_and_ignores_others():
    future = _DaskLikeFuture()
    release_result(future)
    assert future.wrapped_future.released
    release_result(Future())  # a thread pool's future holds nothing elsewhere: nothing to do


def test_cluster_threads_of_runners_that_are_not_dask():
    class Pool:
        max_workers = 3

    assert (cluster_threads(Pool()), cluster_threads(None)) == (3, 1)
