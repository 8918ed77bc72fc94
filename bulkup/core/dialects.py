"""The two API dialects, client side: session requests to HTTP, HTTP answers to results.

:class:`V1` and :class:`V2` turn the session's request descriptions
(:mod:`bulkup.core.session`) into :class:`HttpRequest` descriptions and parse answers
into :class:`~bulkup.core.session.Initialized` / :class:`~bulkup.core.session.MediaState`,
or raise the matching :mod:`bulkup.errors` error. No I/O: the transport sends.

Success is the status code (X's published contract, spec §3): any 2xx answer to
APPEND means the segment is stored, whatever its body (204, empty, ``{}``,
``{"data": {}}``, not JSON); a 2xx to metadata or subtitles means they are applied.
INIT, FINALIZE, STATUS and one-shot answers need only the media id (``data.id``, or
v1.1's ``media_id_string``/``media_id``); every other field is optional and read only
when present. A 2xx without the id, or with a field that is not what it should be (a
media id of other than 1 to 19 digits, an ``expires_after_secs`` of ``NaN`` or
``1e300``: the ranges of :mod:`bulkup.core.numbers`), is a
:class:`~bulkup.errors.ProtocolError` naming what is wrong, whose
:attr:`~bulkup.errors.ProtocolError.accepted` is true: the server acted, the caller
decides what may be asked again (retried like any unusable answer, so a server that
keeps sending it fails the item after ``max_attempts``). An error status with a body
that is not the API's JSON (a proxy's HTML page) is a
:class:`~bulkup.errors.ServerError` (5xx, retried) or :class:`~bulkup.errors.ApiError`
whose message names the content type and quotes the body. Rate-limit answers say when
to try again (:func:`spent_until`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import urlencode

from bulkup.core import numbers, spec
from bulkup.core.items import Metadata
from bulkup.core.steps import (
    ENDPOINT_OF,
    Append,
    AttachSubtitles,
    Finalize,
    Init,
    Initialized,
    MediaState,
    Plan,
    ProcessingInfo,
    Request,
    SetMetadata,
    SimpleUpload,
    Status,
)
from bulkup.errors import (
    ApiError,
    AuthError,
    ProtocolError,
    RateLimited,
    ServerError,
)

#: The real API host of each dialect, in the order of :data:`bulkup.core.spec.DIALECTS`.
DEFAULT_ENDPOINTS: Final[Mapping[spec.Dialect, str]] = {
    "v1.1": "https://upload.twitter.com",
    "v2": "https://api.x.com",
}


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request to make; ``media`` is a byte range of the file to attach."""

    method: str
    url: str
    endpoint: str  # rate-limit bucket, see bulkup.core.spec.RATE_LIMITS
    form: Mapping[str, str] | None = None  # application/x-www-form-urlencoded (signed)
    json: Mapping[str, Any] | None = None
    fields: tuple[tuple[str, str], ...] = ()  # multipart text fields, before the media part
    media: tuple[int, int] | None = None  # (offset, length) of the file: multipart "media"


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes
    #: SHA-256 (hex) of the file's bytes the request carried, if it carried any.
    sent_sha256: str | None = None


class Dialect(Protocol):
    name: str

    def build(self, request: Request) -> HttpRequest: ...

    def parse(self, request: Request, answer: HttpAnswer) -> Initialized | MediaState | None: ...

    def metadata(self, media_id: str, metadata: Metadata) -> HttpRequest: ...

    def subtitles(
        self, video_id: str, category: str, subtitle_id: str, language: str, name: str
    ) -> HttpRequest: ...


def _owners(owners: tuple[str, ...]) -> str:
    return ",".join(owners)


class V1:
    """``/1.1/media/upload.json`` with ``command=``."""

    name = "v1.1"

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.upload_url = self.base + spec.V1_UPLOAD

    def build(self, request: Request) -> HttpRequest:
        url = self.upload_url
        match request:
            case Init(plan=plan):
                return self._initialize(plan)
            case Append(media_id=media_id, index=index, offset=offset, length=length):
                fields = (
                    ("command", "APPEND"),
                    ("media_id", media_id),
                    ("segment_index", str(index)),
                )
                return HttpRequest("POST", url, "append", fields=fields, media=(offset, length))
            case Finalize(media_id=media_id):
                form = {"command": "FINALIZE", "media_id": media_id}
                return HttpRequest("POST", url, "finalize", form=form)
            case Status(media_id=media_id):
                query = urlencode({"command": "STATUS", "media_id": media_id})
                return HttpRequest("GET", f"{url}?{query}", "status")
            case SimpleUpload(plan=plan):
                simple: list[tuple[str, str]] = []
                if plan.media_category:
                    simple.append(("media_category", plan.media_category))
                if plan.additional_owners:
                    simple.append(("additional_owners", _owners(plan.additional_owners)))
                return HttpRequest(
                    "POST", url, "upload", fields=tuple(simple), media=(0, plan.size)
                )
            case SetMetadata(media_id=media_id, metadata=metadata):
                return self.metadata(media_id, metadata)
            case AttachSubtitles(video_id, category, subtitle_id, language, name):
                return self.subtitles(video_id, category, subtitle_id, language, name)
        raise TypeError(f"not a request: {request!r}")

    def _initialize(self, plan: Plan) -> HttpRequest:
        form = {"command": "INIT", "total_bytes": str(plan.size), "media_type": plan.media_type}
        if plan.media_category:
            form["media_category"] = plan.media_category
        if plan.additional_owners:
            form["additional_owners"] = _owners(plan.additional_owners)
        if plan.shared:
            form["shared"] = "true"
        return HttpRequest("POST", self.upload_url, "initialize", form=form)

    def metadata(self, media_id: str, metadata: Metadata) -> HttpRequest:
        """``media/metadata/create.json``: alt text and sensitive-media warnings only."""
        if metadata.allow_download is not None:
            raise ValueError("v1.1 metadata has no allow_download")  # refused at planning
        body: dict[str, Any] = {"media_id": media_id}
        if metadata.alt_text is not None:
            body["alt_text"] = {"text": metadata.alt_text}
        if metadata.sensitive_media_warning:
            body["sensitive_media_warning"] = list(metadata.sensitive_media_warning)
        return HttpRequest("POST", self.base + spec.V1_METADATA, "metadata", json=body)

    def subtitles(
        self, video_id: str, category: str, subtitle_id: str, language: str, name: str
    ) -> HttpRequest:
        entry = {"media_id": subtitle_id, "language_code": language, "display_name": name}
        body = {
            "media_id": video_id,
            "media_category": category,
            "subtitle_info": {"subtitles": [entry]},
        }
        url = self.base + spec.V1_SUBTITLES_CREATE
        return HttpRequest("POST", url, "subtitles_create", json=body)

    def parse(self, request: Request, answer: HttpAnswer) -> Initialized | MediaState | None:
        raise_for_answer(answer, ENDPOINT_OF[type(request)])
        if isinstance(request, Append | SetMetadata | AttachSubtitles):
            return None  # any 2xx: stored or applied (observed 204 with no body)
        body = _json_object(answer, request)
        return _read(request, answer, body, ("media_id_string", "media_id"))


class V2:
    """``/2/media/upload/...``: JSON INIT, path ids, ``{"data": …}`` answers."""

    name = "v2"

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")

    def build(self, request: Request) -> HttpRequest:
        base = self.base
        match request:
            case Init(plan=plan):
                return self._initialize(plan)
            case Append(media_id=media_id, index=index, offset=offset, length=length):
                url = base + spec.V2_APPEND.format(media_id=media_id)
                fields = (("segment_index", str(index)),)
                return HttpRequest("POST", url, "append", fields=fields, media=(offset, length))
            case Finalize(media_id=media_id):
                # The document defines no body; X accepts none or {} as JSON, and
                # refuses an empty body with a content type (aiohttp's default).
                url = base + spec.V2_FINALIZE.format(media_id=media_id)
                return HttpRequest("POST", url, "finalize", json={})
            case Status(media_id=media_id):
                query = urlencode({"command": "STATUS", "media_id": media_id})
                return HttpRequest("GET", f"{base}{spec.V2_UPLOAD}?{query}", "status")
            case SimpleUpload(plan=plan):
                fields_: list[tuple[str, str]] = [
                    ("media_category", plan.media_category or "tweet_image")
                ]
                if plan.additional_owners:
                    fields_.append(("additional_owners", _owners(plan.additional_owners)))
                return HttpRequest(
                    "POST",
                    base + spec.V2_UPLOAD,
                    "upload",
                    fields=tuple(fields_),
                    media=(0, plan.size),
                )
            case SetMetadata(media_id=media_id, metadata=metadata):
                return self.metadata(media_id, metadata)
            case AttachSubtitles(video_id, category, subtitle_id, language, name):
                return self.subtitles(video_id, category, subtitle_id, language, name)
        raise TypeError(f"not a request: {request!r}")

    def _initialize(self, plan: Plan) -> HttpRequest:
        body: dict[str, Any] = {"total_bytes": plan.size, "media_type": plan.media_type}
        if plan.media_category:
            body["media_category"] = plan.media_category
        if plan.additional_owners:
            body["additional_owners"] = list(plan.additional_owners)
        if plan.shared:
            body["shared"] = True
        return HttpRequest("POST", self.base + spec.V2_INITIALIZE, "initialize", json=body)

    def metadata(self, media_id: str, metadata: Metadata) -> HttpRequest:
        """``POST /2/media/metadata``: every field of the item in one (billed) request."""
        fields: dict[str, Any] = {}
        if metadata.alt_text is not None:
            fields["alt_text"] = {"text": metadata.alt_text}
        if metadata.sensitive_media_warning:
            fields["sensitive_media_warning"] = dict.fromkeys(
                metadata.sensitive_media_warning, True
            )
        if metadata.allow_download is not None:
            fields["allow_download_status"] = {"allow_download": metadata.allow_download}
        body = {"id": media_id, "metadata": fields}
        return HttpRequest("POST", self.base + spec.V2_METADATA, "metadata", json=body)

    def subtitles(
        self, video_id: str, category: str, subtitle_id: str, language: str, name: str
    ) -> HttpRequest:
        """``POST /2/media/subtitles``: the category spelled ``TweetVideo``/``AmplifyVideo``."""
        entry = {"id": subtitle_id, "language_code": language.upper(), "display_name": name}
        body = {
            "id": video_id,
            "media_category": spec.SUBTITLE_VIDEO_CATEGORIES[category],
            "subtitles": entry,
        }
        return HttpRequest("POST", self.base + spec.V2_SUBTITLES, "subtitles_create", json=body)

    def parse(self, request: Request, answer: HttpAnswer) -> Initialized | MediaState | None:
        raise_for_answer(answer, ENDPOINT_OF[type(request)])
        if isinstance(request, Append | SetMetadata | AttachSubtitles):
            return None  # any 2xx: stored or applied; data.expires_at is optional
        data = _json_object(answer, request).get("data")
        if not isinstance(data, dict):
            raise _shape_error(request, answer, "a 'data' object")
        return _read(request, answer, data, ("id",), where="data.")


def dialect_for(name: str, base_url: str | None = None) -> Dialect:
    if name not in spec.DIALECTS:
        raise ValueError(f"unknown API dialect {name!r}; use {' or '.join(spec.DIALECTS)}")
    base = base_url or DEFAULT_ENDPOINTS[name]
    return V1(base) if name == "v1.1" else V2(base)


# --- parsing helpers -----------------------------------------------------------------
_COMMANDS: Final[Mapping[type, str]] = {
    Init: "INIT",
    Append: "APPEND",
    Finalize: "FINALIZE",
    Status: "STATUS",
    SimpleUpload: "upload",
    SetMetadata: "metadata",
    AttachSubtitles: "subtitles",
}


class _Missing(Exception):
    """A field the step needs is absent from an answer (becomes a ProtocolError)."""


def _excerpt(body: bytes, limit: int = 200) -> str:
    """The start of a body, whitespace runs collapsed (an HTML page reads on one line)."""
    text = " ".join(body[:limit].decode("utf-8", "replace").split())
    return repr(text + ("…" if len(body) > limit else ""))


def _content_type(answer: HttpAnswer) -> str:
    return answer.headers.get("Content-Type") or "no content type"


def _loads(body: bytes) -> object:
    """The JSON value of ``body``; ValueError if it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(str(exc)) from None


def _json_object(answer: HttpAnswer, request: Request | str) -> dict[str, Any]:
    what = request if isinstance(request, str) else _COMMANDS[type(request)]
    try:
        body = _loads(answer.body)
    except ValueError:
        raise ProtocolError(
            f"HTTP {answer.status} answer to {what} is not JSON ({_content_type(answer)}): "
            f"{_excerpt(answer.body)}",
            http_status=answer.status,
        ) from None
    if not isinstance(body, dict):
        raise ProtocolError(
            f"HTTP {answer.status} answer to {what} is not a JSON object: {_excerpt(answer.body)}",
            http_status=answer.status,
        )
    return body


def _shape_error(request: Request, answer: HttpAnswer, missing: str) -> ProtocolError:
    return ProtocolError(
        f"HTTP {answer.status} answer to {_COMMANDS[type(request)]} lacks {missing}: "
        f"{_excerpt(answer.body)}",
        http_status=answer.status,
    )


def _read(
    request: Request,
    answer: HttpAnswer,
    body: Mapping[str, Any],
    id_names: tuple[str, ...],
    where: str = "",
) -> Initialized | MediaState:
    """INIT's, FINALIZE's, STATUS's or a one-shot upload's answer, every number checked
    (:mod:`bulkup.core.numbers`): a bad one is a ProtocolError naming field and value."""
    try:
        media_id = _id(body, id_names, where)
        if isinstance(request, Init):
            return _initialized(body, media_id, where)
        return _media_state(body, media_id, where)
    except _Missing as exc:
        raise _shape_error(request, answer, str(exc)) from None
    except numbers.OutOfRange as exc:
        raise ProtocolError(
            f"HTTP {answer.status} answer to {_COMMANDS[type(request)]}: {exc}",
            http_status=answer.status,
        ) from None


def _id(body: Mapping[str, Any], names: tuple[str, ...], where: str) -> str:
    """The first of ``names`` that holds a media id; if none does, OutOfRange for the
    first one present, or _Missing when none is."""
    present = [name for name in names if body.get(name) is not None]
    if not present:
        raise _Missing(f"a media id ({' or '.join(where + n for n in names)})")
    problems: list[numbers.OutOfRange] = []
    for name in present:
        try:
            return numbers.media_id(where + name, body[name])
        except numbers.OutOfRange as exc:
            problems.append(exc)
    raise problems[0]


def _seconds(body: Mapping[str, Any], name: str, high: int, where: str) -> float | None:
    value = body.get(name)
    return None if value is None else numbers.in_range(where + name, value, 0, high, "seconds")


def _whole(body: Mapping[str, Any], name: str, high: int, unit: str, where: str) -> int | None:
    value = body.get(name)
    return None if value is None else numbers.whole(where + name, value, 0, high, unit)


def _initialized(body: Mapping[str, Any], media_id: str, where: str) -> Initialized:
    return Initialized(
        media_id=media_id,
        media_key=_opt_str(body.get("media_key")),
        expires_after_secs=_seconds(
            body, "expires_after_secs", numbers.MAX_EXPIRES_AFTER_SECS, where
        ),
    )


def _opt_str(value: object) -> str | None:
    return str(value) if value is not None else None


def _media_state(body: Mapping[str, Any], media_id: str, where: str) -> MediaState:
    image = body.get("image")
    if not isinstance(image, dict):
        image = {}
    pixels = where + "image."
    return MediaState(
        media_id=media_id,
        media_key=_opt_str(body.get("media_key")),
        size=_whole(body, "size", numbers.MAX_MEDIA_BYTES, "bytes", where),
        expires_after_secs=_seconds(
            body, "expires_after_secs", numbers.MAX_EXPIRES_AFTER_SECS, where
        ),
        processing=_processing(body.get("processing_info"), where + "processing_info."),
        width=_whole(image, "w", numbers.MAX_INT32, "pixels", pixels),
        height=_whole(image, "h", numbers.MAX_INT32, "pixels", pixels),
    )


def _processing(info: object, where: str) -> ProcessingInfo | None:
    """``processing_info``: absent, the media is ready; without a ``state``, ask again."""
    if info is None:
        return None
    if not isinstance(info, dict):
        info = {}
    state = info.get("state")
    if state is not None and not isinstance(state, str):
        raise numbers.OutOfRange(where + "state", state, "a processing state (a string)")
    error = info.get("error") if isinstance(info.get("error"), dict) else None
    percent = info.get("progress_percent")
    return ProcessingInfo(
        state=state if state is not None else "pending",
        check_after_secs=_seconds(info, "check_after_secs", numbers.MAX_CHECK_AFTER_SECS, where),
        progress_percent=(
            None
            if percent is None
            else int(numbers.in_range(where + "progress_percent", percent, 0, 100, "percent"))
        ),
        error_code=numbers.code(error.get("code")) if error else None,
        error_name=_opt_str(error.get("name")) if error else None,
        error_message=_opt_str(error.get("message")) if error else None,
    )


# --- errors --------------------------------------------------------------------------
def error_message(answer: HttpAnswer) -> tuple[str, int | None]:
    """The server's own words for an error answer, and its v1.1 code if any."""
    try:
        body = _loads(answer.body) if answer.body.strip() else None
    except ValueError:
        return (
            f"HTTP {answer.status} with a body that is not JSON ({_content_type(answer)}): "
            f"{_excerpt(answer.body)}"
        ), None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            code = numbers.code(first.get("code"))
            message = str(first.get("message") or first)
            detail = body.get("detail")
            if isinstance(detail, str) and detail != message:
                message = f"{detail} ({message})"
            return message, code
        for key in ("detail", "error", "title"):
            if isinstance(body.get(key), str):
                return str(body[key]), None
    if body is None:
        return f"HTTP {answer.status} with an empty body", None
    return f"HTTP {answer.status}: {_excerpt(answer.body)}", None


#: Rate-limit windows X announces in headers: the header prefix and what to call it.
RATE_WINDOWS: Final = (
    ("x-rate-limit", "15-minute"),
    ("x-app-limit-24hour", "24-hour app"),
    ("x-user-limit-24hour", "24-hour user"),
)

FORBIDDEN_HINT: Final = (
    " X refuses media uploads for these credentials. The usual causes: an OAuth 2.0 "
    "token without the media.write scope (log in again asking for it: bulkup auth login), "
    "or an app whose permission is Read only (set Read and write in the developer portal, "
    "then regenerate the OAuth 1.0a access token and secret: old tokens keep the old "
    "permission)."
)


def spent_until(headers: Mapping[str, str]) -> tuple[float, str] | None:
    """The latest reset (Unix seconds) of the windows this answer says are spent, and
    which window that is; None if no announced window is spent. A reset that is not a
    Unix time before 2100 (:func:`bulkup.core.numbers.header_time`) is no reset."""
    latest: tuple[float, str] | None = None
    for prefix, name in RATE_WINDOWS:
        remaining = numbers.header_count(headers.get(prefix + "-remaining"))
        reset = numbers.header_time(headers.get(prefix + "-reset"))
        if remaining == 0 and reset is not None and (latest is None or reset > latest[0]):
            latest = (reset, name)
    return latest


def rate_window(headers: Mapping[str, str], prefix: str) -> tuple[int, int, float] | None:
    """(limit, remaining, reset) of one announced window (``x-rate-limit``,
    ``x-app-limit-24hour``…), or None unless all three are there and usable: counts of
    decimal digits, a reset that is a Unix time before 2100 (:mod:`bulkup.core.numbers`)."""
    limit = numbers.header_count(headers.get(prefix + "-limit"))
    remaining = numbers.header_count(headers.get(prefix + "-remaining"))
    reset = numbers.header_time(headers.get(prefix + "-reset"))
    if limit is None or remaining is None or reset is None:
        return None
    return limit, remaining, reset


def retry_after(headers: Mapping[str, str]) -> tuple[float | None, float | None]:
    """``Retry-After`` as (seconds, None) or, given as an HTTP date, (None, Unix time);
    (None, None) when absent or unusable (:func:`bulkup.core.numbers.header_delay`)."""
    return numbers.header_delay(headers.get("Retry-After"))


def _rate_limited(
    answer: HttpAnswer, message: str, code: int | None, endpoint: str | None
) -> RateLimited:
    spent = spent_until(answer.headers)
    delay, at = retry_after(answer.headers)
    if spent is None and "x-rate-limit-remaining" not in answer.headers:
        reset = numbers.header_time(answer.headers.get("x-rate-limit-reset"))  # alone: spent
        spent = (reset, "15-minute") if reset is not None else None
    reset_at = max((t for t in (spent[0] if spent else None, at) if t is not None), default=None)
    return RateLimited(
        f"rate limited: {message}",
        api_code=code,
        reset_at=reset_at,
        retry_after=delay,
        limit=spent[1] if spent else None,
        endpoint=endpoint,
    )


def raise_for_answer(answer: HttpAnswer, endpoint: str | None = None) -> None:
    """Raise the error an answer to ``endpoint`` stands for; return if it is a success."""
    status = answer.status
    if 200 <= status < 300:
        return
    message, code = error_message(answer)
    if status == 429:
        raise _rate_limited(answer, message, code, endpoint)
    if status in (401, 403) or code in (32, 135, 215, 220):
        if status == 403:
            message += FORBIDDEN_HINT
        elif code == 135 or (status == 401 and "timestamp" in message.lower()):
            message += (
                " The request timestamp is too far from the server's clock: "
                "check this machine's clock (NTP)."
            )
        elif status == 401:
            message += (
                " Check X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET"
                " (or X_BEARER_TOKEN)."
            )
        raise AuthError(message, http_status=status, api_code=code)
    if status >= 500:
        delay, at = retry_after(answer.headers)
        raise ServerError(
            message,
            http_status=status,
            api_code=code,
            retry_after=delay,
            reset_at=at,
            endpoint=endpoint,
        )
    raise ApiError(message, http_status=status, api_code=code)
