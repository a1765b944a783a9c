"""``read_ahead``: work on the next items in a background thread while the caller uses this one.

Indexing reads and parses documents ahead of the one being embedded: parsing runs in its own
process (or in C code that releases the interpreter), so the two overlap instead of taking
turns. Results come back in the items' order, at most ``depth`` of them waiting, so memory stays
bounded by a few documents whatever the source's size.

Example::

    for item, outcome in read_ahead(load, items, depth=2):
        if isinstance(outcome, Exception):
            report_failure(item, outcome)
        else:
            use(outcome)
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_STOP_POLL_SECONDS = 0.2  # how often a blocked producer checks that its consumer still wants results
_JOIN_SECONDS = 5.0  # how long a consumer that stops early waits for the current item to finish


class _Done:
    """Marks the end of the items."""


class _ListingFailed:
    """The items' iterator itself raised ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(
    work: Callable[[Item], Result], items: Iterable[Item], depth: int = 2
) -> Iterator[tuple[Item, Result | Exception]]:
    """``(item, work(item))`` for every item, in order, computed up to ``depth`` items ahead.

    An exception raised by ``work`` is yielded in place of its result (the items after it go on);
    an exception raised by ``items`` itself is raised. ``depth`` 0 does the work in the caller's
    thread, one item at a time. When the caller stops early (an exception, ``break``), the
    background thread stops after its current item.
    """
    if depth <= 0:
        for item in items:
            yield item, _attempt(work, item)
        return
    results: queue.Queue[tuple[Item, Result | Exception] | _Done | _ListingFailed] = queue.Queue(depth)
    stopped = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stopped.is_set() or not _put(results, (item, _attempt(work, item)), stopped):
                    return
        except BaseException as error:  # noqa: BLE001 - raised again in the consumer's thread
            _put(results, _ListingFailed(error), stopped)
            return
        _put(results, _Done(), stopped)

    thread = threading.Thread(target=produce, name="chunkwise-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            outcome = results.get()
            if isinstance(outcome, _Done):
                return
            if isinstance(outcome, _ListingFailed):
                raise outcome.error
            yield outcome
    finally:
        stopped.set()
        thread.join(_JOIN_SECONDS)


def _attempt(work: Callable[[Item], Result], item: Item) -> Result | Exception:
    try:
        return work(item)
    except Exception as error:  # noqa: BLE001 - handed to the consumer, which decides
        return error


def _put(results: queue.Queue, outcome: object, stopped: threading.Event) -> bool:
    """Wait for room; ``False`` when the consumer stopped first."""
    while not stopped.is_set():
        try:
            results.put(outcome, timeout=_STOP_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False
