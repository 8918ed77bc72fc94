"""Memory freed in bulk goes back to the system (glibc's malloc_trim)."""

from __future__ import annotations

import sys

import pytest

from bulkup.run import heap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim: Linux")
def test_on_linux_the_free_heap_is_given_back_without_error() -> None:
    assert heap._malloc_trim() is not None
    heap.release_free_memory()  # nothing to assert but that it runs: RSS is the benchmark's
