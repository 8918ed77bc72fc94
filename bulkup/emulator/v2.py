"""The v2 dialect: ``/2/media/upload/...``, ``/2/media/metadata``, ``/2/media/subtitles``.

Responses are wrapped in ``{"data": {...}}`` with string ids; errors are RFC 7807
problems (see :mod:`bulkup.emulator.errors`). Parameters are read from JSON, form,
multipart or the query string alike, as real v2 clients use all of them.
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from bulkup import spec
from bulkup.emulator import contract, errors, operations
from bulkup.emulator.app import STATE_KEY, Call, EmulatorState
from bulkup.emulator.errors import ApiError
from bulkup.emulator.store import Media


def _data(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response({"data": body}, status=status)


def media_body(state: EmulatorState, media: Media) -> dict[str, Any]:
    return {"id": media.id_string, **operations.media_fields(state, media)}


async def _call(request: web.Request, endpoint: str) -> tuple[EmulatorState, Call]:
    state = request.app[STATE_KEY]
    call = await state.begin(request)
    state.admit(call, endpoint)
    return state, call


def _field(call: Call, name: str) -> Any:
    """A parameter with its JSON type if it came as JSON, else as a string."""
    if call.params.json is not None and name in call.params.json:
        return call.params.json[name]
    return call.params.fields.get(name)


async def initialize(request: web.Request) -> web.Response:
    state, call = await _call(request, "initialize")
    fields = contract.initialize(call.params)
    fields["additional_owners"] = list(fields["additional_owners"])
    media = operations.init(state, call, fields)
    return _data(
        {
            "id": media.id_string,
            "media_key": media.key,
            "expires_after_secs": state.store.remaining_secs(media),
        }
    )


async def append(request: web.Request) -> web.Response:
    state, call = await _call(request, "append")
    media_id = contract.media_id(request.match_info["media_id"])
    media = operations.append(state, call, media_id, contract.append(call.params))
    return _data({"expires_at": math.floor(media.expires_at)})


async def finalize(request: web.Request) -> web.Response:
    state, call = await _call(request, "finalize")
    media_id = contract.media_id(request.match_info["media_id"])
    contract.finalize(call.params)
    media = state.store.get(media_id, call.user.id)
    await state.store.finalize(media)
    return _data(media_body(state, media))


async def status(request: web.Request) -> web.Response:
    state, call = await _call(request, "status")
    media = operations.status(state, call, contract.status(call.params))
    return _data(media_body(state, media))


async def one_shot(request: web.Request) -> web.Response:
    state, call = await _call(request, "upload")
    category, owners = contract.one_shot(call.params)
    media = await operations.simple_upload(state, call, category, allow_async=True, owners=owners)
    return _data(media_body(state, media))


async def metadata(request: web.Request) -> web.Response:
    state, call = await _call(request, "metadata")
    meta = _field(call, "metadata")
    alt_text = meta.get("alt_text") if isinstance(meta, dict) else None
    media = operations.set_alt_text(state, call, _field(call, "id"), alt_text)
    return _data(
        {"id": media.id_string, "associated_metadata": {"alt_text": {"text": media.alt_text}}}
    )


async def subtitles_create(request: web.Request) -> web.Response:
    state, call = await _call(request, "subtitles_create")
    subtitles = _field(call, "subtitles")
    entries = subtitles if isinstance(subtitles, list) else [subtitles]
    if not all(isinstance(e, dict) for e in entries):
        raise ApiError(
            errors.BAD_REQUEST, 'subtitles must be {"id", "language_code", "display_name"}.'
        )
    video = operations.add_subtitles(state, call, _field(call, "id"), entries)
    return _data(
        {
            "id": video.id_string,
            "media_category": video.category,
            "associated_subtitles": [
                {
                    "id": s["media_id"],
                    "language_code": s["language_code"],
                    "display_name": s["display_name"],
                }
                for s in video.subtitles
            ],
        }
    )


async def subtitles_delete(request: web.Request) -> web.Response:
    state, call = await _call(request, "subtitles_delete")
    language = _field(call, "language_code")
    operations.delete_subtitles(state, call, _field(call, "id"), [str(language or "")])
    return _data({"deleted": True})


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_post(spec.V2_INITIALIZE, initialize)
    router.add_post(spec.V2_APPEND, append)
    router.add_post(spec.V2_FINALIZE, finalize)
    router.add_get(spec.V2_UPLOAD, status)
    router.add_post(spec.V2_UPLOAD, one_shot)
    router.add_post(spec.V2_METADATA, metadata)
    router.add_post(spec.V2_SUBTITLES, subtitles_create)
    router.add_delete(spec.V2_SUBTITLES, subtitles_delete)
