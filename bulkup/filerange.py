"""A byte range of a file as the ``media`` part of a request, sent by the kernel.

Over plain HTTP (the emulator, a local proxy) a chunk need not pass through this
process at all: :class:`FileRange` hands the open file to ``loop.sendfile``, which
moves the bytes from the page cache to the socket (``sendfile(2)``) with no buffer
of ours, no copy and no thread. Over TLS the bytes must be encrypted here, so the
transport reads the chunk instead (:func:`bulkup.transport.read_chunk`); asyncio
itself falls back to reading when a transport cannot sendfile.

The file is opened, and its size checked, when the request is built, before
anything is sent: a deleted or shortened file is a :class:`FileChanged` then, with
the same message as a chunk read. A file cut short while its range is being sent
(a race no check can close) fails that attempt, which is retried and then meets
the check.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, BinaryIO

import anyio
from aiohttp import payload
from aiohttp.abc import AbstractStreamWriter

from bulkup.errors import FileChanged

CONTENT_TYPE = "application/octet-stream"


class FileRange(payload.Payload):
    """``length`` bytes at ``offset`` of an open file, closed by ``await close()``."""

    _value: BinaryIO

    def __init__(self, file: BinaryIO, offset: int, length: int) -> None:
        super().__init__(file, content_type=CONTENT_TYPE)
        self._offset = offset
        self._length = length
        self._size = length  # what aiohttp reads for the Content-Length

    @classmethod
    def open(cls, path: str | os.PathLike[str], offset: int, length: int) -> FileRange:
        """The range, or :class:`FileChanged` if the file is gone or too short for it."""
        name = os.fspath(path)
        try:
            file = open(name, "rb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            raise FileChanged(f"{name} was deleted during the upload") from None
        try:
            size = os.fstat(file.fileno()).st_size
        except BaseException:
            file.close()
            raise
        if size < offset + length:
            file.close()
            raise FileChanged(
                f"{name} changed during the upload: expected {length} bytes at "
                f"offset {offset}, read {max(0, size - offset)}"
            )
        return cls(file, offset, length)

    def _close(self) -> None:
        """Close the file (idempotent): aiohttp's ``close()`` of the payload calls this."""
        self._value.close()

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        count = self._length if content_length is None else min(self._length, content_length)
        loop = asyncio.get_running_loop()
        transport: Any = getattr(writer, "transport", None)
        if transport is None or not isinstance(loop, asyncio.BaseEventLoop):
            # Another writer or event loop (uvloop has no loop.sendfile): read, then write.
            fd = self._value.fileno()
            data = await anyio.to_thread.run_sync(os.pread, fd, count, self._offset)
            sent = len(data)
            await writer.write(data)
        else:
            send_headers = getattr(writer, "send_headers", None)
            if send_headers is not None:
                send_headers()  # what aiohttp holds back goes first: the request line, headers
            sent = await loop.sendfile(transport, self._value, self._offset, count)
        if sent != count:
            raise FileChanged(
                f"{self._value.name} changed during the upload: sent {sent} of "
                f"{count} bytes at offset {self._offset}"
            )

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a file range is bytes, not text")
