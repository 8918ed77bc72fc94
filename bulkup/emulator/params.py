"""Reading request parameters in every encoding real clients send.

Parameters may come in the query string, a url-encoded body, multipart fields in any
order, or a JSON object; media bytes as a raw multipart part (``media``), base64
(``media_data``, or any part with ``Content-Transfer-Encoding: base64``) or a base64
JSON string (v2 ``media``). :func:`read_params` merges all of that into one
:class:`Params`, spooling media bytes to the store as they stream in.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from bulkup.emulator import errors
from bulkup.emulator.errors import ApiError
from bulkup.emulator.spool import Spool
from bulkup.emulator.store import MediaStore

MEDIA_FIELDS = ("media", "media_data")
_READ_BLOCK = 256 * 1024

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


@dataclass(slots=True)
class Params:
    """The merged parameters of one request, and where each came from.

    ``fields`` merges the query string and the text fields of a form or multipart
    body (what lenient v1.1 reads); the rest tells the strict v2 checks of
    :mod:`bulkup.emulator.contract` how the request was encoded.
    """

    fields: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    spool: Spool | None = None
    #: The query string alone.
    query: dict[str, str] = field(default_factory=dict)
    #: The body's encoding: "none" (no body, no Content-Type), "json" (exactly
    #: application/json), "form", "multipart", or "other" (another type, or a body
    #: without a type).
    source: str = "none"
    #: Names of the body's fields in order, media parts and JSON keys included.
    names: list[str] = field(default_factory=list)
    #: The form or multipart text fields alone.
    form: dict[str, str] = field(default_factory=dict)
    #: The field that carried the media bytes, if any.
    media_field: str | None = None
    #: A JSON body that was empty (or only whitespace), read as ``{}``.
    json_empty: bool = False

    def get(self, name: str) -> str | None:
        if name in self.fields:
            return self.fields[name]
        if self.json is not None and name in self.json:
            value = self.json[name]
            return value if isinstance(value, str) else json.dumps(value)
        return None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None or value == "":
            raise ApiError(errors.BAD_REQUEST, f"Missing required parameter: {name}.")
        return value

    def discard(self) -> None:
        if self.spool is not None:
            self.spool.abort()
            self.spool = None


async def read_params(request: web.Request, store: MediaStore) -> Params:
    """All parameters of ``request``; media bytes go to a :class:`Spool`."""
    query = dict(request.rel_url.query.items())
    params = Params(fields=dict(query), query=query, source=_source(request))
    ctype = request.content_type
    try:
        if params.source == "form":
            form = await request.post()
            for name, value in form.items():
                params.names.append(name)
                if name in MEDIA_FIELDS and isinstance(value, str):
                    _spool_bytes(params, store, _b64decode(value, name), name)
                elif isinstance(value, str):
                    params.fields[name] = params.form[name] = value
        elif params.source == "multipart":
            await _read_multipart(request, store, params)
        elif params.source == "json" or (request.can_read_body and ctype.endswith("+json")):
            await _read_json(request, store, params)
        elif "Content-Type" not in request.headers and not await request.read():
            params.source = "none"  # e.g. an empty chunked body: no body after all
    except BaseException:
        params.discard()
        raise
    return params


def _source(request: web.Request) -> str:
    """How the body is encoded, as the Content-Type header says (absent: no body?)."""
    if "Content-Type" not in request.headers:
        return "other" if request.body_exists else "none"
    ctype = request.content_type  # without parameters, lower case
    if ctype == "application/json":
        return "json"
    if ctype in (FORM, MULTIPART):
        return "form" if ctype == FORM else "multipart"
    return "other"


async def _read_json(request: web.Request, store: MediaStore, params: Params) -> None:
    raw = await request.read()
    if not raw.strip():
        params.json = {}
        params.json_empty = True
        return
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(errors.BAD_REQUEST, "Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(errors.BAD_REQUEST, "Request body must be a JSON object.")
    params.names = list(body)
    for name in MEDIA_FIELDS:
        if name not in body:
            continue
        media = body.pop(name)
        if not isinstance(media, str):
            raise ApiError(errors.BAD_REQUEST, f"{name} must be a base64 string.")
        _spool_bytes(params, store, _b64decode(media, name), name)
    params.json = body


async def _read_multipart(request: web.Request, store: MediaStore, params: Params) -> None:
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ApiError(errors.BAD_REQUEST, "Nested multipart bodies are not supported.")
        name = part.name or ""
        params.names.append(name)
        if name in MEDIA_FIELDS:
            await _read_media_part(part, name, store, params)
        else:
            params.fields[name] = params.form[name] = await part.text()


async def _read_media_part(
    part: BodyPartReader, name: str, store: MediaStore, params: Params
) -> None:
    if params.spool is not None:
        raise ApiError(errors.BAD_REQUEST, "Only one media part is allowed.")
    encoded = name == "media_data" or (
        part.headers.get("Content-Transfer-Encoding", "").strip().lower() == "base64"
    )
    if encoded:
        text = await part.read(decode=False)
        _spool_bytes(params, store, _b64decode(bytes(text), name), name)
        return
    spool = params.spool = store.open_spool()
    params.media_field = name
    while block := await part.read_chunk(_READ_BLOCK):
        spool.write(block)


def _spool_bytes(params: Params, store: MediaStore, data: bytes, name: str) -> None:
    if params.spool is not None:
        raise ApiError(errors.BAD_REQUEST, "Only one media part is allowed.")
    params.media_field = name
    params.spool = store.open_spool()
    params.spool.write(data)


def _b64decode(value: str | bytes, name: str) -> bytes:
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        raise ApiError(errors.BAD_REQUEST, f"{name} is not valid base64.") from None
