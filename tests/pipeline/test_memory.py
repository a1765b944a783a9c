"""Freed heap memory goes back to the operating system between batches."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from chunkwise.pipeline.memory import release_free_memory

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")


def anonymous_rss_mb() -> float:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text("ascii").splitlines())
    return int(status["RssAnon"].split()[0]) / 1024


@linux_only
def test_freed_fragmented_heap_pages_are_returned() -> None:
    # 1 KiB blocks come from malloc's heap; keeping every 64th one fragments it, so glibc keeps
    # the freed rest resident until it is told to trim
    blocks = [bytes(1024) + i.to_bytes(4, "little") for i in range(150_000)]
    kept = blocks[::64]
    del blocks
    before = anonymous_rss_mb()

    released = release_free_memory()

    after = anonymous_rss_mb()
    assert released
    assert before - after > 50, f"resident anonymous memory {before:.0f} MB -> {after:.0f} MB"
    assert len(kept) == 2344
