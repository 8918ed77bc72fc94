"""Memory freed in bulk goes back to the system (glibc's malloc_trim)."""

from __future__ import annotations

import sys

import pytest

from bulkup.run import heap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim: Linux")
def test_on_linux_the_free_heap_is_given_back_without_error() -> None:
    assert heap._malloc_trim() is not None
    heap.release_free_memory()  # nothing to assert but that it runs: RSS is the benchmark's


def test_the_finished_store_gives_the_heap_back_every_16_sealed_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each seal frees a block's buffers between blocks that stay: glibc keeps such
    holes unless asked (benchmark 10: 49 B an item of a 100,000-item run)."""
    from bulkup.run import checkpoint_store

    trims: list[int] = []
    store = checkpoint_store.FinishedStore()
    monkeypatch.setattr(checkpoint_store, "release_free_memory", lambda: trims.append(1))
    line = b"x" * 1000
    handles = [store.add(line) for _ in range(65 * 33)]  # 33 blocks of 65 lines and more

    assert len(trims) == 2  # at the 16th and the 32nd sealed block
    assert store.read(handles[-1]) == line and store.read(handles[100]) == line
