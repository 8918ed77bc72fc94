"""Facts of the X media upload API that the client and the emulator share.

Everything here is data taken from ``shared/spec/x-media-upload.md``: paths of both
dialects, media categories and their ``media_key`` prefixes, segment and chunk
limits, the published rate limits. No I/O and no behaviour beyond small pure helpers,
so both sides of the wire read the same numbers.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Dialect = Literal["v1.1", "v2"]
DIALECTS: Final[tuple[Dialect, ...]] = ("v1.1", "v2")

# --- paths -------------------------------------------------------------------------
V1_UPLOAD: Final = "/1.1/media/upload.json"
V1_METADATA: Final = "/1.1/media/metadata/create.json"
V1_SUBTITLES_CREATE: Final = "/1.1/media/subtitles/create.json"
V1_SUBTITLES_DELETE: Final = "/1.1/media/subtitles/delete.json"

V2_UPLOAD: Final = "/2/media/upload"  # POST one-shot, GET status
V2_INITIALIZE: Final = "/2/media/upload/initialize"
V2_APPEND: Final = "/2/media/upload/{media_id}/append"
V2_FINALIZE: Final = "/2/media/upload/{media_id}/finalize"
V2_METADATA: Final = "/2/media/metadata"
V2_SUBTITLES: Final = "/2/media/subtitles"

# --- segments and sizes ------------------------------------------------------------
MIN_SEGMENT_INDEX: Final = 0
MAX_SEGMENT_INDEX: Final = 999
MAX_SEGMENTS: Final = MAX_SEGMENT_INDEX + 1
MAX_CHUNK_BYTES: Final = 5 * 1024 * 1024
MAX_TOTAL_BYTES_V2: Final = 17_179_869_184
MAX_ALT_TEXT_CHARS: Final = 1000
#: What a client assumes when initialize's answer omits ``expires_after_secs`` (it is
#: optional in the v2 document): the shortest figure seen, so a resume errs towards
#: starting afresh rather than resuming a session the server has already forgotten.
ASSUMED_UPLOAD_EXPIRY_SECS: Final = 3600
#: What a client assumes when FINALIZE's (or STATUS's) answer omits
#: ``expires_after_secs``: X documents media ids as usable for 24 hours.
ASSUMED_MEDIA_EXPIRY_SECS: Final = 86400
MAX_ADDITIONAL_OWNERS: Final = 100

# --- categories --------------------------------------------------------------------
CATEGORIES: Final[tuple[str, ...]] = (
    "tweet_image",
    "dm_image",
    "tweet_gif",
    "dm_gif",
    "tweet_video",
    "dm_video",
    "amplify_video",
    "subtitles",
)
IMAGE_CATEGORIES: Final = frozenset({"tweet_image", "dm_image"})
GIF_CATEGORIES: Final = frozenset({"tweet_gif", "dm_gif"})
VIDEO_CATEGORIES: Final = frozenset({"tweet_video", "dm_video", "amplify_video"})
#: Categories whose media is processed asynchronously after FINALIZE (STATUS polling).
ASYNC_CATEGORIES: Final = GIF_CATEGORIES | VIDEO_CATEGORIES

#: ``media_key`` = prefix + "_" + id.
MEDIA_KEY_PREFIX: Final[dict[str, int]] = {
    "tweet_image": 3,
    "dm_image": 3,
    "subtitles": 3,
    "tweet_gif": 16,
    "dm_gif": 16,
    "tweet_video": 7,
    "dm_video": 7,
    "amplify_video": 13,
}

#: v2 ``media_type`` values (the enumeration of X's OpenAPI document, spec §3); any
#: other type (``image/jpg``, ``application/octet-stream``) is refused with 400.
V2_MEDIA_TYPES: Final = frozenset(
    {
        "video/mp4",
        "video/webm",
        "video/mp2t",
        "video/quicktime",
        "text/srt",
        "text/vtt",
        "image/jpeg",
        "image/gif",
        "image/bmp",
        "image/png",
        "image/webp",
        "image/pjpeg",
        "image/tiff",
        "model/gltf-binary",
        "model/vnd.usdz+zip",
    }
)
#: Common spellings outside that list, and the listed type they mean.
MEDIA_TYPE_ALIASES: Final[dict[str, str]] = {
    "image/jpg": "image/jpeg",
    "application/x-subrip": "text/srt",
    "video/mov": "video/quicktime",
}
#: v2 subtitles name the video's category in CamelCase (``POST /2/media/subtitles``).
SUBTITLE_VIDEO_CATEGORIES: Final[dict[str, str]] = {
    "tweet_video": "TweetVideo",
    "amplify_video": "AmplifyVideo",
}
#: v2 metadata: the flags of ``sensitive_media_warning``.
SENSITIVE_MEDIA_WARNINGS: Final = ("adult_content", "graphic_violence", "other")

_CATEGORY_LOOKUP: Final[dict[str, str]] = {c.replace("_", ""): c for c in CATEGORIES}
_CAMEL_BOUNDARY = re.compile(r"[_\-\s]")


def normalize_category(name: str) -> str:
    """Return the canonical snake_case category for any case style seen in the wild.

    ``tweet_image``, ``TWEET_IMAGE``, ``TweetImage`` and ``tweetimage`` all give
    ``tweet_image``. Raises :class:`ValueError` naming the known categories otherwise.
    """
    key = _CAMEL_BOUNDARY.sub("", name).lower()
    try:
        return _CATEGORY_LOOKUP[key]
    except KeyError:
        known = ", ".join(CATEGORIES)
        raise ValueError(f"unknown media_category {name!r}; expected one of: {known}") from None


def media_key_prefix(category: str | None, media_type: str) -> int:
    """The ``media_key`` prefix for an upload (category wins, else the MIME family)."""
    if category is not None:
        return MEDIA_KEY_PREFIX[category]
    if media_type.startswith("video/"):
        return 7
    return 3


# --- rate limits (per user per 15 minutes) -----------------------------------------
RATE_WINDOW_SECS: Final = 15 * 60

#: Endpoint keys used for rate-limit buckets and statistics, with their published
#: per-user limits for one 15-minute window (v2 numbers; v1.1 published none, and the
#: emulator applies the same budgets to the matching v1.1 commands).
RATE_LIMITS: Final[dict[str, int]] = {
    "initialize": 1875,
    "append": 1875,
    "finalize": 1875,
    "status": 1000,
    "upload": 500,  # simple / one-shot upload
    "metadata": 500,
    "subtitles_create": 100,
    "subtitles_delete": 100,
}
ENDPOINTS: Final[tuple[str, ...]] = tuple(RATE_LIMITS)


# --- v2 published contract (shared/spec/x-media-upload.md section 3) --------------------
#: ``media_category`` values of the v2 one-shot ``POST /2/media/upload`` (no amplify_video).
V2_ONE_SHOT_CATEGORIES: Final[tuple[str, ...]] = (
    "tweet_image",
    "tweet_video",
    "tweet_gif",
    "dm_image",
    "dm_video",
    "dm_gif",
    "subtitles",
)
#: The keys of ``metadata`` in ``POST /2/media/metadata``; any other is a 400.
V2_METADATA_KEYS: Final[tuple[str, ...]] = (
    "alt_text",
    "allow_download_status",
    "sensitive_media_warning",
    "found_media_origin",
    "content_expiration",
    "domain_restrictions",
    "geo_restrictions",
    "preview_image",
    "shared_info",
    "sticker_info",
    "upload_source",
    "management_info",
)
#: v2 subtitles' ``language_code``: two upper-case letters (``EN``; not ``en``, ``pt-BR``).
V2_LANGUAGE_CODE_PATTERN: Final = "^[A-Z]{2}$"


# --- per-app limits (per app per 24 hours, spec section 4) ------------------------------
APP_RATE_WINDOW_SECS: Final = 24 * 60 * 60

#: X's published per-app budgets for one 24-hour window, for all users of an app
#: together, under the same endpoint keys as :data:`RATE_LIMITS`.
APP_RATE_LIMITS_24H: Final[dict[str, int]] = {
    "initialize": 180_000,
    "append": 180_000,
    "finalize": 180_000,
    "status": 100_000,
    "upload": 50_000,
    "metadata": 50_000,
    "subtitles_create": 10_000,
    "subtitles_delete": 10_000,
}
#: Headers of the per-app window on every answer of an app-limited endpoint.
APP_LIMIT_HEADER: Final = "x-app-limit-24hour-limit"
APP_REMAINING_HEADER: Final = "x-app-limit-24hour-remaining"
APP_RESET_HEADER: Final = "x-app-limit-24hour-reset"  # Unix seconds
