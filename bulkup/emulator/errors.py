"""The emulator's error catalogue, rendered in the body each dialect uses.

Handlers raise :class:`ApiError` with a *kind*; :func:`render` turns it into the
response the real API gives for that dialect:

- v1.1: ``{"errors": [{"code": N, "message": "…"}]}`` for coded errors, or
  ``{"request": "/1.1/media/upload.json", "error": "…"}`` for upload errors;
- v2: an RFC 7807 problem (``application/problem+json``) with ``title``,
  ``detail``, ``type`` and ``status``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from aiohttp import web

PROBLEM_JSON: Final = "application/problem+json"
_PROBLEMS: Final = "https://api.x.com/2/problems/"


@dataclass(frozen=True, slots=True)
class Kind:
    status: int
    #: v1.1 ``errors[].code``; None renders as ``{"request", "error"}``.
    v1_code: int | None
    v1_message: str | None
    v2_title: str
    v2_type: str


BAD_REQUEST = Kind(400, None, None, "Invalid Request", _PROBLEMS + "invalid-request")
NOT_FOUND = Kind(404, None, None, "Not Found Error", _PROBLEMS + "resource-not-found")
MEDIA_NOT_FOUND = Kind(
    400, 325, "A media id was not found.", "Invalid Request", _PROBLEMS + "invalid-request"
)
MEDIA_EXPIRED = Kind(
    400,
    324,
    "The validation of media ids failed.",
    "Invalid Request",
    _PROBLEMS + "invalid-request",
)
BAD_AUTH_DATA = Kind(400, 215, "Bad authentication data.", "Unauthorized", "about:blank")
UNAUTHORIZED = Kind(401, 32, "Could not authenticate you.", "Unauthorized", "about:blank")
STALE_TIMESTAMP = Kind(401, 135, "Timestamp out of bounds.", "Unauthorized", "about:blank")
FORBIDDEN_APP_ONLY = Kind(
    403,
    220,
    "Your credentials do not allow access to this resource.",
    "Unsupported Authentication",
    _PROBLEMS + "unsupported-authentication",
)
FORBIDDEN_SCOPE = Kind(
    403,
    220,
    "Your credentials do not allow access to this resource.",
    "Forbidden",
    "about:blank",
)
TOO_LARGE = Kind(413, None, None, "Payload Too Large", "about:blank")
RATE_LIMITED = Kind(429, 88, "Rate limit exceeded.", "Too Many Requests", "about:blank")
INTERNAL = Kind(500, 131, "Internal error.", "Internal Server Error", "about:blank")
OVER_CAPACITY = Kind(503, 130, "Over capacity.", "Service Unavailable", "about:blank")


class ApiError(Exception):
    """An error response of the emulated API."""

    def __init__(self, kind: Kind, detail: str | None = None, *, empty_body: bool = False) -> None:
        self.kind = kind
        self.detail = detail or kind.v1_message or kind.v2_title
        self.empty_body = empty_body
        super().__init__(self.detail)


def render(error: ApiError, dialect: str, path: str) -> web.Response:
    """The response the real API sends for ``error`` on ``path`` in ``dialect``."""
    kind = error.kind
    if error.empty_body:
        return web.Response(status=kind.status)
    body: dict[str, object]
    if dialect == "v2":
        body = {
            "title": kind.v2_title,
            "detail": error.detail if kind.status != 429 else "Too Many Requests",
            "type": kind.v2_type,
            "status": kind.status,
        }
        if kind.status == 400:
            body["errors"] = [{"message": error.detail}]
        return web.Response(status=kind.status, text=json.dumps(body), content_type=PROBLEM_JSON)
    if kind.v1_code is not None:
        body = {"errors": [{"code": kind.v1_code, "message": kind.v1_message}]}
    else:
        body = {"request": path, "error": error.detail}
    return web.json_response(body, status=kind.status)
