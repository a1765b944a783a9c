"""Handing memory the pipeline has freed back to the operating system between batches.

Embedding documents of varying lengths allocates and frees tensors of varying sizes. glibc's
allocator keeps most of that freed memory in the process, fragmented, so without a trim the
resident size of a long ingest grows with the number of documents it has embedded, not with its
batch (benchmarks/RESULTS.md, "Incremental ingestion": +32% at four times the corpus).
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable


def release_free_memory() -> bool:
    """Return the C heap's free pages to the operating system; ``True`` if any were released.

    A no-op returning ``False`` where the C library has no ``malloc_trim`` (macOS, Windows, musl).

    Example::

        vectors = encoder.embed(batch)
        store.write_points(collection, points)
        release_free_memory()  # the batch's tensors are gone: give their pages back
    """
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim
