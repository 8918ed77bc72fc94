"""Finished records, kept compressed: what keeps a checkpoint's memory flat.

A finished item with nothing left to continue (it succeeded, or ended before any upload
session) is needed again only when a rerun meets it: to report its line again, to
compare its file and parameters, to find the same file under another id. So the
checkpoint keeps it as the bytes of its compact JSON (format version 5, see
:mod:`bulkup.core.records`), which are also what the snapshot writes for it, appended
to a :class:`FinishedStore`: blocks of about 64 KB, each compressed with zlib once
full. Lines of one run look alike and compress about tenfold, so a finished item
costs its share of a block and one handle (an int: block, offset, length), not its
typed record (~5 KB of Python objects).

Reading one back decompresses its block (the last few are cached: a rerun meets the
items in about the order they were stored). A record replaced later leaves its bytes
behind in their block until the checkpoint is opened again, which builds the store
afresh from the snapshot.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Sequence

from bulkup.run.heap import release_free_memory

#: Bytes of uncompressed lines per block.
BLOCK_BYTES = 64 << 10
#: Decompressed blocks kept for reading.
CACHED_BLOCKS = 4
#: Every this many sealed blocks (about 1 MiB of lines), the heap's free pages go back
#: to the system: each seal frees a block's buffers between blocks that stay, and
#: glibc keeps such holes (a 100,000-item run held 56 B an item more without it).
TRIM_EVERY_BLOCKS = 16
_OFFSET_BITS = 24  # offsets in a block (a record longer than a block has one of its own)
_LENGTH_BITS = 32


def handle(block: int, offset: int, length: int) -> int:
    return (block << (_OFFSET_BITS + _LENGTH_BITS)) | (offset << _LENGTH_BITS) | length


def _parts(value: int) -> tuple[int, int, int]:
    length = value & ((1 << _LENGTH_BITS) - 1)
    offset = (value >> _LENGTH_BITS) & ((1 << _OFFSET_BITS) - 1)
    return value >> (_OFFSET_BITS + _LENGTH_BITS), offset, length


class BlockReader:
    """Reads records out of sealed blocks, with a small cache of decompressed ones; any
    thread may own one (the snapshot's worker has its own)."""

    def __init__(self, blocks: Sequence[bytes]) -> None:
        self._blocks = blocks
        self._cache: OrderedDict[int, bytes] = OrderedDict()

    def read(self, value: int) -> bytes:
        block, offset, length = _parts(value)
        data = self._cache.get(block)
        if data is None:
            data = zlib.decompress(self._blocks[block])
            self._cache[block] = data
            if len(self._cache) > CACHED_BLOCKS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(block)
        return data[offset : offset + length]


class FinishedStore:
    """Append-only compressed bytes, one handle per record (see the module docstring)."""

    def __init__(self) -> None:
        #: Sealed blocks, compressed; never changed once appended.
        self._blocks: list[bytes] = []
        self._open = bytearray()
        self._reader = BlockReader(self._blocks)

    def add(self, data: bytes) -> int:
        if self._open and len(self._open) + len(data) > BLOCK_BYTES:
            self.seal()
        value = handle(len(self._blocks), len(self._open), len(data))
        self._open += data
        return value

    def seal(self) -> None:
        """Compress the open block (a snapshot reads sealed blocks only)."""
        if self._open:
            self._blocks.append(zlib.compress(bytes(self._open), 6))
            self._open = bytearray()
            if len(self._blocks) % TRIM_EVERY_BLOCKS == 0:
                release_free_memory()

    def read(self, value: int) -> bytes:
        block, offset, length = _parts(value)
        if block == len(self._blocks):
            return bytes(self._open[offset : offset + length])
        return self._reader.read(value)

    def sealed(self) -> list[bytes]:
        """Every block, sealed, for a reader in another thread (a copy of the list)."""
        self.seal()
        return list(self._blocks)

    @property
    def compressed_bytes(self) -> int:
        return sum(map(len, self._blocks)) + len(self._open)
