"""The xdk peer of benchmark 1: the official X SDK on v2, as its users write it.

xdk (``pip install xdk``) is the Python SDK that X publishes for API v2. Its media
client sends JSON bodies (media as base64) through one ``requests.Session`` per
``Client`` and parses every answer as JSON into pydantic models; it has no upload
helper, so a user writes the steps:

- a still image: one ``POST /2/media/upload`` (``client.media.upload``);
- a video: ``initialize_upload``, ``append_upload`` for each 4 MiB segment in turn (the
  segment size of X's own xdk example), ``finalize_upload``, then ``get_upload_status``
  after ``check_after_secs`` until the state is ``succeeded``.

Authentication is the demo user's OAuth 2.0 user token (xdk's ``access_token``).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._harness import BEARER

#: Segment size of an xdk user's chunked upload (X's example: 4 MB chunks).
SEGMENT_BYTES = 4 << 20
MEDIA_TYPES = {".mp4": "video/mp4", ".png": "image/png", ".jpg": "image/jpeg", ".gif": "image/gif"}


def encoded(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def one_shot(client: Any, path: Path, category: str) -> str:
    """A still image in one request: ``POST /2/media/upload``, JSON with base64 media."""
    answer = client.media.upload(
        body={"media": encoded(path.read_bytes()), "media_category": category}
    )
    return str(answer.data.id)


def chunked(client: Any, path: Path, category: str) -> str:
    """INITIALIZE, APPEND each segment, FINALIZE, then STATUS until processed."""
    size = path.stat().st_size
    init = client.media.initialize_upload(
        body={
            "total_bytes": size,
            "media_type": MEDIA_TYPES[path.suffix.lower()],
            "media_category": category,
        }
    )
    media_id = str(init.data.id)
    with path.open("rb") as fh:
        index = 0
        while segment := fh.read(SEGMENT_BYTES):
            body = {"media": encoded(segment), "segment_index": index}
            client.media.append_upload(id=media_id, body=body)
            index += 1
    info = client.media.finalize_upload(id=media_id).data.processing_info
    while info is not None and info.state != "succeeded":
        if info.state == "failed":
            raise RuntimeError(f"xdk: processing of {path} failed")
        wait = info.check_after_secs
        time.sleep(1 if wait is None else wait)  # as told; 1 s if the answer says nothing
        status = client.media.get_upload_status(media_id=media_id, command="STATUS")
        info = status.data.processing_info
    return media_id


def xdk_uploader(url: str, made: list[Any]) -> Callable[[Path, str], str]:
    """Upload one file with xdk; one ``Client`` per thread, each added to ``made`` so
    that its connections can be closed after the run."""
    from xdk import Client

    local = threading.local()

    def upload(path: Path, category: str) -> str:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = Client(base_url=url, access_token=BEARER)
            made.append(client)
        if category.endswith("_image"):
            return one_shot(client, path, category)
        return chunked(client, path, category)

    return upload
