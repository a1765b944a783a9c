"""Submit work a few items ahead of its consumer: at most ``ahead`` results are in flight or
waiting at once, so memory stays bounded by the window, not by the corpus."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import islice
from typing import Any, Protocol, TypeVar


class CompletingFuture(Protocol):
    """Anything that calls back once done: a Prefect future, a ``concurrent.futures.Future``."""

    def add_done_callback(self, fn: Callable[[Any], object], /) -> None: ...


T = TypeVar("T")
F = TypeVar("F", bound=CompletingFuture)


def submit_in_window(items: Iterable[T], submit: Callable[[T], F], ahead: int) -> Iterator[tuple[T, F]]:
    """Submit ``items`` (``submit(item)`` returns a future) and yield each ``(item, future)`` as it
    completes; the next item is submitted only when one is taken, so at most ``ahead`` futures
    (running, or done and not yet taken) exist at once. Drop each future once handled.

    Example::

        for batch, future in submit_in_window(batches, prepare_batch.submit, ahead=4):
            write(batch, future.result())   # the 5th batch is submitted once the 1st is taken
    """
    if ahead < 1:
        raise ValueError(f"ahead must be at least 1 (got {ahead})")
    waiting = iter(items)
    in_flight: dict[int, tuple[T, F]] = {}
    done: queue.SimpleQueue[int] = queue.SimpleQueue()  # callbacks may come from other threads
    count = 0
    while True:
        for item in islice(waiting, ahead - len(in_flight)):
            key, count = count, count + 1
            in_flight[key] = (item, submit(item))  # no other reference: taken, it can be freed
            in_flight[key][1].add_done_callback(partial(_signal, done, key))
        if not in_flight:
            return
        yield in_flight.pop(done.get())


def _signal(done: queue.SimpleQueue[int], key: int, _future: object) -> None:
    done.put(key)


__all__ = ["CompletingFuture", "submit_in_window"]
