"""The v1.1 dialect: ``/1.1/media/upload.json`` and its companions.

One path serves INIT, APPEND, FINALIZE (POST) and STATUS (GET) through the
case-sensitive ``command`` parameter, plus simple upload when no command is given.
Responses are bare objects carrying both ``media_id`` (a 64-bit integer) and
``media_id_string``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bulkup.core import spec
from bulkup.emulator import answers, errors, operations
from bulkup.emulator.app import STATE_KEY, Call, EmulatorState
from bulkup.emulator.errors import ApiError

COMMANDS = {"INIT": "initialize", "APPEND": "append", "FINALIZE": "finalize"}


async def upload_post(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    call = await state.begin(request)
    command = call.params.get("command")
    if command is None:
        state.admit(call, "upload")
        category = operations.category_param(call.params.get("media_category"))
        owners = operations.owners_param(call.params.get("additional_owners"))
        media = await operations.simple_upload(
            state, call, category, allow_async=False, owners=owners
        )
        return web.json_response(answers.v1_media(state, media))
    endpoint = COMMANDS.get(command)
    if endpoint is None:
        raise ApiError(
            errors.BAD_REQUEST, f"Invalid command {command!r}: use INIT, APPEND or FINALIZE."
        )
    state.admit(call, endpoint)
    if endpoint == "initialize":
        return _init(state, call)
    if endpoint == "append":
        operations.append(
            state, call, call.params.require("media_id"), call.params.require("segment_index")
        )
        return web.Response(status=204)
    media = state.store.get(call.params.require("media_id"), call.user.id)
    await state.store.finalize(media)
    return web.json_response(answers.v1_media(state, media))


def _init(state: EmulatorState, call: Call) -> web.Response:
    fields: dict[str, Any] = {
        name: call.params.get(name)
        for name in ("total_bytes", "media_type", "media_category", "additional_owners")
    }
    fields["shared"] = (call.params.get("shared") or "").lower() == "true"
    media = operations.init(state, call, fields)
    return web.json_response(answers.v1_init(state, media), status=202)


async def upload_get(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    call = await state.begin(request)
    command = call.params.get("command")
    if command != "STATUS":
        raise ApiError(errors.BAD_REQUEST, "GET media/upload.json requires command=STATUS.")
    state.admit(call, "status")
    media = operations.status(state, call, call.params.require("media_id"))
    return web.json_response(answers.v1_media(state, media))


async def _json_call(
    request: web.Request, endpoint: str
) -> tuple[EmulatorState, Call, dict[str, Any]]:
    state = request.app[STATE_KEY]
    call = await state.begin(request)
    state.admit(call, endpoint)
    body = call.params.json if call.params.json is not None else dict(call.params.fields)
    return state, call, body


async def metadata_create(request: web.Request) -> web.Response:
    state, call, body = await _json_call(request, "metadata")
    operations.set_metadata(state, call, body.get("media_id"), _metadata_change(body))
    return web.Response(status=200)


def _metadata_change(body: dict[str, Any]) -> operations.MetadataChange:
    """v1.1's ``alt_text`` and ``sensitive_media_warning``; other fields are ignored."""
    alt_text = body.get("alt_text")
    warning = body.get("sensitive_media_warning")
    text = alt_text.get("text") if isinstance(alt_text, dict) else None
    if (alt_text is not None or warning is None) and not isinstance(text, str):
        raise ApiError(errors.BAD_REQUEST, 'alt_text must be an object like {"text": "…"}.')
    names = spec.SENSITIVE_MEDIA_WARNINGS
    if warning is not None and (
        not isinstance(warning, list) or not all(w in names for w in warning)
    ):
        raise ApiError(
            errors.BAD_REQUEST,
            f"sensitive_media_warning must be a list of {', '.join(names)}; got {warning!r}.",
        )
    return operations.MetadataChange(
        alt_text=text,
        sensitive_media_warning=(
            tuple(w for w in names if w in warning) if warning is not None else None
        ),
    )


def _subtitle_list(body: dict[str, Any]) -> list[dict[str, Any]]:
    info = body.get("subtitle_info")
    subtitles = info.get("subtitles") if isinstance(info, dict) else None
    if not isinstance(subtitles, list) or not all(isinstance(s, dict) for s in subtitles):
        raise ApiError(errors.BAD_REQUEST, 'subtitle_info must be {"subtitles": [{…}]}.')
    return subtitles


async def subtitles_create(request: web.Request) -> web.Response:
    state, call, body = await _json_call(request, "subtitles_create")
    operations.add_subtitles(state, call, body.get("media_id"), _subtitle_list(body))
    return web.Response(status=200)


async def subtitles_delete(request: web.Request) -> web.Response:
    state, call, body = await _json_call(request, "subtitles_delete")
    languages = [str(s.get("language_code") or "") for s in _subtitle_list(body)]
    operations.delete_subtitles(state, call, body.get("media_id"), languages)
    return web.Response(status=200)


def add_routes(app: web.Application) -> None:
    app.router.add_post(spec.V1_UPLOAD, upload_post)
    app.router.add_get(spec.V1_UPLOAD, upload_get)
    app.router.add_post(spec.V1_METADATA, metadata_create)
    app.router.add_post(spec.V1_SUBTITLES_CREATE, subtitles_create)
    app.router.add_post(spec.V1_SUBTITLES_DELETE, subtitles_delete)
