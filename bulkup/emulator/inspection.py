"""The ``/_emulator/*`` routes: what the server holds, and its controls (no authentication).

``GET /_emulator/media/{id}``, ``GET /_emulator/media``, ``GET /_emulator/stats``,
``GET /_emulator/health``, ``POST /_emulator/clock/advance`` and
``POST /_emulator/faults``. Tests and users inspect what was uploaded, move the
emulated clock and script faults through them; the Python :class:`Emulator` offers
the same as methods.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bulkup.emulator.app import INSPECT_PREFIX, STATE_KEY


async def inspect_media(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    raw = request.match_info["media_id"]
    media = state.store.peek(int(raw)) if raw.isdigit() else None
    if media is None:
        return web.json_response({"error": f"no media with id {raw!r}"}, status=404)
    return web.json_response(state.describe(media))


async def list_media(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response({"media": [state.describe(m) for m in state.store]})


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].stats_json())


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def advance_clock(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    try:
        state.clock.advance(float(body.get("seconds", 0)))
    except (TypeError, ValueError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    state.store.sweep()
    return web.json_response({"clock_offset_secs": state.clock.offset})


async def schedule_fault(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    try:
        state.faults.schedule(
            str(body.get("kind")),
            endpoint=body.get("endpoint"),
            count=int(body.get("count", 1)),
            after=int(body.get("after", 0)),
        )
    except (TypeError, ValueError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"scheduled": body})


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='expected a JSON object such as {"seconds": 60}')
    return body


def add_routes(app: web.Application) -> None:
    app.router.add_get(INSPECT_PREFIX + "/media", list_media)
    app.router.add_get(INSPECT_PREFIX + "/media/{media_id}", inspect_media)
    app.router.add_get(INSPECT_PREFIX + "/stats", stats)
    app.router.add_get(INSPECT_PREFIX + "/health", health)
    app.router.add_post(INSPECT_PREFIX + "/clock/advance", advance_clock)
    app.router.add_post(INSPECT_PREFIX + "/faults", schedule_fault)
