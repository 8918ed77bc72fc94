"""Success answers of both dialects: full, or minimal (``[answers] minimal = true``).

Full answers carry every field the real API is seen to send. Minimal answers carry
only what X's published contract requires, so that a client depending on an
optional field fails against the emulator rather than in production (DESIGN
decision 10):

- v2: ``{"data": {"id"}}`` for initialize, finalize, STATUS, one-shot and metadata;
  ``processing_info: {"state"}`` only while the media is not ready (``pending``,
  ``in_progress``) or has ``failed``, since its absence means ready; APPEND answers,
  in turn, a 204 with no body, ``200 {}`` and ``200 {"data": {}}``; subtitles
  ``{"data": {}}``.
- v1.1 (no published contract): ``media_id`` and ``media_id_string``, plus the
  processing state as above; APPEND 204 as always.
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from bulkup.emulator import operations
from bulkup.emulator.app import EmulatorState
from bulkup.emulator.store import Media

#: The minimal APPEND answers, given in turn.
APPEND_TURNS = ("204", "{}", '{"data": {}}')


def minimal(state: EmulatorState) -> bool:
    return state.config.answers.minimal


def v1_ids(media: Media) -> dict[str, Any]:
    return {"media_id": media.id, "media_id_string": media.id_string}


def _processing_state(state: EmulatorState, media: Media) -> dict[str, Any]:
    """``{"processing_info": {"state"}}`` unless the media is ready."""
    processing = state.store.processing(media)
    if processing is None or processing.state == "succeeded":
        return {}
    return {"processing_info": {"state": processing.state}}


def _media_fields(state: EmulatorState, media: Media) -> dict[str, Any]:
    if minimal(state):
        return _processing_state(state, media)
    return operations.media_fields(state, media)


def v2_media(state: EmulatorState, media: Media) -> dict[str, Any]:
    """``data`` of finalize, STATUS and one-shot."""
    return {"id": media.id_string, **_media_fields(state, media)}


def v1_media(state: EmulatorState, media: Media) -> dict[str, Any]:
    """FINALIZE, STATUS and simple upload."""
    return {**v1_ids(media), **_media_fields(state, media)}


def v2_initialize(state: EmulatorState, media: Media) -> dict[str, Any]:
    if minimal(state):
        return {"id": media.id_string}
    return {
        "id": media.id_string,
        "media_key": media.key,
        "expires_after_secs": state.store.remaining_secs(media),
    }


def v1_init(state: EmulatorState, media: Media) -> dict[str, Any]:
    if minimal(state):
        return v1_ids(media)
    body = {**v1_ids(media), "expires_after_secs": state.store.remaining_secs(media)}
    if media.category is not None:
        body["media_key"] = media.key
    return body


def v2_append(state: EmulatorState, media: Media) -> web.Response:
    if not minimal(state):
        return web.json_response({"data": {"expires_at": math.floor(media.expires_at)}})
    turn = APPEND_TURNS[next(state.append_turns) % len(APPEND_TURNS)]
    if turn == "204":
        return web.Response(status=204)
    return web.json_response(text=turn)


def v2_metadata(state: EmulatorState, media: Media, given: dict[str, Any]) -> dict[str, Any]:
    if minimal(state):
        return {"id": media.id_string}
    return {"id": media.id_string, "associated_metadata": given}
