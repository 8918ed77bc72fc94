"""An async web service that uploads the files it receives to X, with one shared Uploader.

    POST /upload   multipart/form-data with a ``file`` part (and an optional ``alt_text``)
    → 200 {"id": ..., "status": "succeeded", "media_id_string": ..., ...}  (the report line)
    → 502 the same line with the reason, when the upload failed; 400 a bad request

The file comes in the request body and is streamed to a temporary file (never held
whole in memory, never a path on the server named by the client), uploaded, then
deleted. Credentials and the endpoint come from the same variables as the ``bulkup``
command: ``X_API_KEY``, ``X_API_SECRET``, ``X_ACCESS_TOKEN``, ``X_ACCESS_TOKEN_SECRET``
(or ``X_BEARER_TOKEN``, …), and ``BULKUP_ENDPOINT`` (unset: X's API).

Run it against the emulator::

    bulkup serve                       # in another terminal; paste its export lines here
    python examples/upload_service.py  # listens on 127.0.0.1:8080
    curl -F file=@photo.jpg http://127.0.0.1:8080/upload
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import BodyPartReader, web

import bulkup

#: The largest request accepted: X's largest media (a 512 MiB video) and a little more.
MAX_BODY = 513 * 1024 * 1024
UPLOADER = web.AppKey("uploader", bulkup.Uploader)


async def uploader_ctx(app: web.Application) -> AsyncIterator[None]:
    """One Uploader for the app's lifetime: one HTTP session, one rate-limit pacer."""
    endpoint = os.environ.get("BULKUP_ENDPOINT") or None
    config = bulkup.UploadConfig(endpoint=endpoint)
    auth = bulkup.auth_from_env(endpoint=endpoint)  # the X_* variables, as the CLI reads them
    async with bulkup.Uploader(config, auth=auth) as uploader:
        app[UPLOADER] = uploader
        yield


async def upload(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    if request.content_type != "multipart/form-data":
        raise web.HTTPBadRequest(text="send the media as a multipart part named 'file'")
    reader = await request.multipart()
    alt_text: str | None = None
    with tempfile.TemporaryDirectory(prefix="upload-") as folder:
        saved: Path | None = None
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise web.HTTPBadRequest(text="nested multipart is not accepted")
            if part.name == "alt_text":
                alt_text = await part.text()
            elif part.name == "file" and saved is None:
                saved = await _save(part, Path(folder))
        if saved is None:
            raise web.HTTPBadRequest(text="send the media as a multipart part named 'file'")
        result = await request.app[UPLOADER].upload(saved, id=saved.name, alt_text=alt_text)
    return web.json_response(result.as_json(), status=200 if result.ok else 502)


async def _save(part: BodyPartReader, folder: Path) -> Path:
    """Stream one part to a file in ``folder``, under a name of our own."""
    suffix = Path(part.filename or "").suffix[:16]
    path, size = folder / f"media{suffix}", 0
    with path.open("wb") as out:
        while chunk := await part.read_chunk(256 * 1024):
            size += len(chunk)
            if size > MAX_BODY:  # a body sent without Content-Length (chunked)
                raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=size)
            out.write(chunk)
    return path


def make_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(uploader_ctx)
    app.router.add_post("/upload", upload)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=8080)
