"""A deliberately raw HTTP client for testing the emulator over real sockets.

It builds requests by hand in every encoding real clients use (url-encoded,
multipart in any field order, query string, JSON, base64) and signs them with
OAuth 1.0a or a bearer token, so tests control exactly what goes on the wire.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bulkup.auth import oauth1
from bulkup.emulator import Emulator, User


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0]


@dataclass(frozen=True)
class Part:
    """One multipart field: text, or bytes with optional headers."""

    name: str
    value: str | bytes
    filename: str | None = None
    headers: Mapping[str, str] | None = None


def credentials(user: User) -> oauth1.Credentials:
    return oauth1.Credentials(
        consumer_key=user.consumer_key,
        consumer_secret=user.consumer_secret,
        token=user.access_token,
        token_secret=user.access_token_secret,
    )


class RawClient:
    """Sends one request at a time, exactly as asked."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        emulator: Emulator,
        user: User | None = None,
        *,
        bearer: str | None = None,
    ) -> None:
        self.http = http
        self.emulator = emulator
        self.user = user or emulator.user
        self.bearer = bearer

    def url(self, path: str, query: Mapping[str, str] | None = None) -> str:
        url = self.emulator.url + path
        return f"{url}?{urlencode(query)}" if query else url

    def auth_header(
        self, method: str, url: str, form: Mapping[str, str] | None = None, **sign_kw: Any
    ) -> str:
        if self.bearer is not None:
            return f"Bearer {self.bearer}"
        return oauth1.sign(method, url, credentials(self.user), form=form, **sign_kw)

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        parts: Sequence[Part] | None = None,
        json_body: Any = None,
        raw_body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        authorization: str | None = None,
        sign_kw: Mapping[str, Any] | None = None,
    ) -> Reply:
        url = self.url(path, query)
        all_headers = dict(headers or {})
        data: Any = None
        if form is not None:
            data = urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif parts is not None:
            data = multipart(parts)
        elif json_body is not None:
            data = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        elif raw_body is not None:
            data = raw_body
        if isinstance(data, bytes) and len(data) > 1 << 20:
            data = io.BytesIO(data)  # aiohttp warns about raw bytes over 1 MiB
        if authorization is None:
            authorization = self.auth_header(method, url, form, **(sign_kw or {}))
        if authorization:
            all_headers["Authorization"] = authorization
        async with self.http.request(method, url, data=data, headers=all_headers) as resp:
            return Reply(resp.status, dict(resp.headers), await resp.read())

    # --- v1.1 conveniences -------------------------------------------------------
    async def v1_init(
        self, total_bytes: int, media_type: str, category: str | None = None
    ) -> Reply:
        form = {"command": "INIT", "total_bytes": str(total_bytes), "media_type": media_type}
        if category:
            form["media_category"] = category
        return await self.request("POST", "/1.1/media/upload.json", form=form)

    async def v1_append(self, media_id: str, index: int, chunk: bytes) -> Reply:
        parts = [
            Part("command", "APPEND"),
            Part("media_id", media_id),
            Part("segment_index", str(index)),
            Part("media", chunk, filename="blob"),
        ]
        return await self.request("POST", "/1.1/media/upload.json", parts=parts)

    async def v1_finalize(self, media_id: str) -> Reply:
        form = {"command": "FINALIZE", "media_id": media_id}
        return await self.request("POST", "/1.1/media/upload.json", form=form)

    async def v1_status(self, media_id: str) -> Reply:
        query = {"command": "STATUS", "media_id": media_id}
        return await self.request("GET", "/1.1/media/upload.json", query=query)

    async def v1_upload(
        self, data: bytes, media_type: str, category: str | None = None, chunk: int = 1 << 20
    ) -> str:
        """INIT, APPEND every chunk, FINALIZE; returns the media id string."""
        init = await self.v1_init(len(data), media_type, category)
        assert init.status == 202, init.raw
        media_id: str = init.json["media_id_string"]
        for index, start in enumerate(range(0, max(len(data), 1), chunk)):
            reply = await self.v1_append(media_id, index, data[start : start + chunk])
            assert reply.status == 204, reply.raw
        final = await self.v1_finalize(media_id)
        assert final.status == 200, final.raw
        return media_id

    # --- v2 conveniences ---------------------------------------------------------
    async def v2_init(
        self, total_bytes: int, media_type: str, category: str | None = None
    ) -> Reply:
        body: dict[str, Any] = {"total_bytes": total_bytes, "media_type": media_type}
        if category:
            body["media_category"] = category
        return await self.request("POST", "/2/media/upload/initialize", json_body=body)

    async def v2_append(
        self, media_id: str, index: int, chunk: bytes, *, as_json: bool = False
    ) -> Reply:
        path = f"/2/media/upload/{media_id}/append"
        if as_json:
            body = {"segment_index": index, "media": base64.b64encode(chunk).decode()}
            return await self.request("POST", path, json_body=body)
        parts = [Part("segment_index", str(index)), Part("media", chunk, filename="blob")]
        return await self.request("POST", path, parts=parts)

    async def v2_finalize(self, media_id: str) -> Reply:
        # The JSON body {}: aiohttp labels a POST without data application/octet-stream,
        # a body type v2 finalize refuses.
        return await self.request("POST", f"/2/media/upload/{media_id}/finalize", json_body={})

    async def v2_status(self, media_id: str) -> Reply:
        query = {"command": "STATUS", "media_id": media_id}
        return await self.request("GET", "/2/media/upload", query=query)

    async def v2_upload(
        self, data: bytes, media_type: str, category: str | None = None, chunk: int = 1 << 20
    ) -> str:
        init = await self.v2_init(len(data), media_type, category)
        assert init.status == 200, init.raw
        media_id: str = init.json["data"]["id"]
        for index, start in enumerate(range(0, max(len(data), 1), chunk)):
            reply = await self.v2_append(media_id, index, data[start : start + chunk])
            assert 200 <= reply.status < 300, reply.raw  # 204 with minimal answers
        final = await self.v2_finalize(media_id)
        assert final.status == 200, final.raw
        return media_id


def multipart(parts: Sequence[Part]) -> aiohttp.MultipartWriter:
    """A multipart/form-data body with the parts in exactly the given order."""
    writer = aiohttp.MultipartWriter("form-data")
    for part in parts:
        headers = dict(part.headers or {})
        if isinstance(part.value, bytes):
            headers.setdefault("Content-Type", "application/octet-stream")
            # aiohttp warns (ResourceWarning) about raw bytes over 1 MiB; a stream is the same.
            big = len(part.value) > 1 << 20
            payload = writer.append(io.BytesIO(part.value) if big else part.value, headers)
        else:
            payload = writer.append(part.value, {"Content-Type": "text/plain", **headers})
        if part.filename is None:
            payload.set_content_disposition("form-data", name=part.name)
        else:
            payload.set_content_disposition("form-data", name=part.name, filename=part.filename)
    return writer


def raw_multipart(
    parts: Sequence[Part], boundary: str = "bulkup-raw-boundary"
) -> tuple[bytes, str]:
    """A multipart/form-data body built byte by byte, and its Content-Type.

    For part headers aiohttp's form-data writer refuses to send, such as
    ``Content-Transfer-Encoding: base64``, which real v1.1 clients put on ``media_data``.
    """
    body = bytearray()
    for part in parts:
        disposition = f'form-data; name="{part.name}"'
        if part.filename is not None:
            disposition += f'; filename="{part.filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        for name, value in (part.headers or {}).items():
            body += f"{name}: {value}\r\n".encode()
        body += b"\r\n"
        body += part.value if isinstance(part.value, bytes) else part.value.encode()
        body += b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), f"multipart/form-data; boundary={boundary}"
