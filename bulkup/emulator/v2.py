"""The v2 dialect: ``/2/media/upload/...``, ``/2/media/metadata``, ``/2/media/subtitles``.

Responses are wrapped in ``{"data": {...}}`` with string ids (full or minimal:
:mod:`bulkup.emulator.answers`); errors are RFC 7807 problems (see
:mod:`bulkup.emulator.errors`). Requests are checked against X's published contract
(:mod:`bulkup.emulator.contract`, :mod:`bulkup.emulator.contract_extras`) before they
take effect.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bulkup.core import spec
from bulkup.emulator import answers, contract, contract_extras, operations
from bulkup.emulator.app import STATE_KEY, Call, EmulatorState


def _data(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response({"data": body}, status=status)


async def _call(request: web.Request, endpoint: str) -> tuple[EmulatorState, Call]:
    state = request.app[STATE_KEY]
    call = await state.begin(request)
    state.admit(call, endpoint)
    return state, call


async def initialize(request: web.Request) -> web.Response:
    state, call = await _call(request, "initialize")
    fields = contract.initialize(call.params)
    fields["additional_owners"] = list(fields["additional_owners"])
    media = operations.init(state, call, fields)
    return _data(answers.v2_initialize(state, media))


async def append(request: web.Request) -> web.Response:
    state, call = await _call(request, "append")
    media_id = contract.media_id(request.match_info["media_id"])
    media = operations.append(state, call, media_id, contract.append(call.params))
    return answers.v2_append(state, media)


async def finalize(request: web.Request) -> web.Response:
    state, call = await _call(request, "finalize")
    media_id = contract.media_id(request.match_info["media_id"])
    contract.finalize(call.params)
    media = state.store.get(media_id, call.user.id)
    await state.store.finalize(media)
    return _data(answers.v2_media(state, media))


async def status(request: web.Request) -> web.Response:
    state, call = await _call(request, "status")
    media = operations.status(state, call, contract.status(call.params))
    return _data(answers.v2_media(state, media))


async def one_shot(request: web.Request) -> web.Response:
    state, call = await _call(request, "upload")
    category, owners = contract.one_shot(call.params)
    media = await operations.simple_upload(state, call, category, allow_async=True, owners=owners)
    return _data(answers.v2_media(state, media))


async def metadata(request: web.Request) -> web.Response:
    state, call = await _call(request, "metadata")
    media_id, change = contract_extras.metadata(call.params)
    media = operations.set_metadata(state, call, media_id, change)
    return _data(answers.v2_metadata(state, media, dict(change.given)))


async def subtitles_create(request: web.Request) -> web.Response:
    state, call = await _call(request, "subtitles_create")
    video_id, category, entry = contract_extras.subtitles_create(call.params)
    video = operations.add_subtitles(state, call, video_id, [entry], category)
    if answers.minimal(state):
        return _data({})
    return _data(
        {
            "id": video.id_string,
            "media_category": spec.SUBTITLE_VIDEO_CATEGORIES[video.category or ""],
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
    video_id, category, language = contract_extras.subtitles_delete(call.params)
    operations.delete_subtitles(state, call, video_id, [language], category)
    return _data({} if answers.minimal(state) else {"deleted": True})


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
