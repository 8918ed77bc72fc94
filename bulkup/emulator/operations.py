"""Dialect-neutral operations that both v1.1 and v2 handlers perform.

Each function validates like the real API, changes the store, and returns plain
data; :mod:`bulkup.emulator.v1` and :mod:`bulkup.emulator.v2` only translate
parameters in and bodies out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bulkup.core import spec
from bulkup.emulator import errors
from bulkup.emulator.app import Call, EmulatorState
from bulkup.emulator.errors import ApiError
from bulkup.emulator.store import Media

IMAGE_PREFIX = "image/"


def category_param(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    try:
        return spec.normalize_category(raw)
    except ValueError as exc:
        raise ApiError(errors.BAD_REQUEST, str(exc)) from None


def owners_param(raw: object) -> tuple[str, ...]:
    if raw is None or raw == "":
        return ()
    items = raw if isinstance(raw, list) else str(raw).split(",")
    owners = tuple(str(item).strip() for item in items if str(item).strip())
    if not all(o.isdigit() for o in owners):
        raise ApiError(errors.BAD_REQUEST, "additional_owners must be numeric user ids.")
    return owners


def init(state: EmulatorState, call: Call, body: dict[str, Any]) -> Media:
    """INIT / initialize from already-extracted fields."""
    try:
        total_bytes = int(body["total_bytes"])
    except (KeyError, TypeError, ValueError):
        raise ApiError(
            errors.BAD_REQUEST, "total_bytes is required and must be an integer."
        ) from None
    media_type = body.get("media_type")
    if not isinstance(media_type, str) or "/" not in media_type:
        raise ApiError(errors.BAD_REQUEST, "media_type is required, e.g. video/mp4.")
    return state.store.init(
        owner=call.user.id,
        dialect=call.dialect,
        total_bytes=total_bytes,
        media_type=media_type,
        category=category_param(body.get("media_category")),
        additional_owners=owners_param(body.get("additional_owners")),
        shared=bool(body.get("shared")),
    )


def append(state: EmulatorState, call: Call, media_id: object, raw_index: object) -> Media:
    """APPEND the request's spooled media bytes as one segment."""
    media = state.store.get(media_id, call.user.id)
    spool = call.params.spool
    if spool is None:
        raise ApiError(errors.BAD_REQUEST, "APPEND requires a media or media_data part.")
    try:
        index = int(str(raw_index))
    except ValueError:
        raise ApiError(
            errors.BAD_REQUEST, "segment_index is required and must be an integer."
        ) from None
    call.params.spool = None
    state.store.commit_segment(media, index, spool)
    return media


def status(state: EmulatorState, call: Call, media_id: object) -> Media:
    media = state.store.get(media_id, call.user.id)
    if media.finalized_at is None:
        raise ApiError(errors.NOT_FOUND, f"Media id {media.id} has not been finalized.")
    media.polled = True
    return media


async def simple_upload(
    state: EmulatorState,
    call: Call,
    category: str | None,
    *,
    allow_async: bool,
    owners: tuple[str, ...] = (),
) -> Media:
    """A one-request upload: v1.1 simple upload (images) or v2 one-shot."""
    spool = call.params.spool
    if spool is None:
        raise ApiError(errors.BAD_REQUEST, "A media or media_data part is required.")
    if category in spec.ASYNC_CATEGORIES and not allow_async:
        raise ApiError(
            errors.BAD_REQUEST, f"media_category {category} requires the chunked upload (INIT)."
        )
    if spool.too_large:
        raise ApiError(errors.TOO_LARGE, empty_body=call.dialect == "v1.1")
    media = state.store.begin_simple(
        owner=call.user.id, dialect=call.dialect, category=category, additional_owners=owners
    )
    call.params.spool = None
    state.store.commit_segment(media, 0, spool)
    await state.store.finish_simple(media)
    if category is None and not media.media_type.startswith(IMAGE_PREFIX):
        state.store.expire(media)
        raise ApiError(errors.BAD_REQUEST, "media type unrecognized.")
    return media


@dataclass(frozen=True, slots=True)
class MetadataChange:
    """What one metadata request sets; None leaves a value as it was."""

    alt_text: str | None = None
    allow_download: bool | None = None
    #: The warnings that are set, in the order of :data:`spec.SENSITIVE_MEDIA_WARNINGS`.
    sensitive_media_warning: tuple[str, ...] | None = None
    #: Every metadata key of a v2 request, as given (for inspection and the answer).
    given: Mapping[str, Any] = field(default_factory=dict)


def set_metadata(
    state: EmulatorState, call: Call, media_id: object, change: MetadataChange
) -> Media:
    """Set alt text, download permission, sensitive-media warning: all of it or nothing."""
    media = state.store.get(media_id, call.user.id)
    text = change.alt_text
    if text is not None and len(text) > spec.MAX_ALT_TEXT_CHARS:
        raise ApiError(
            errors.BAD_REQUEST,
            f"alt_text.text is longer than {spec.MAX_ALT_TEXT_CHARS} characters.",
        )
    video = media.category in spec.VIDEO_CATEGORIES or media.media_type.startswith("video/")
    if text is not None and video:
        raise ApiError(errors.BAD_REQUEST, "Alt text can be set on images and GIFs only.")
    if text is not None:
        media.alt_text = text
    if change.allow_download is not None:
        media.allow_download = change.allow_download
    if change.sensitive_media_warning is not None:
        media.sensitive_media_warning = list(change.sensitive_media_warning)
    media.metadata.update(change.given)
    return media


def add_subtitles(
    state: EmulatorState,
    call: Call,
    video_id: object,
    subtitles: list[dict[str, Any]],
    category: str | None = None,
) -> Media:
    """Attach subtitles; ``category``, when given (v2), must be the video's own."""
    video = state.store.get(video_id, call.user.id)
    if video.category not in ("tweet_video", "amplify_video"):
        raise ApiError(
            errors.BAD_REQUEST, "Subtitles attach to tweet_video or amplify_video media."
        )
    _same_category(video, category)
    added = []
    for entry in subtitles:
        sub = state.store.get(entry.get("media_id") or entry.get("id"), call.user.id)
        if sub.category != "subtitles" or sub.finalized_at is None:
            raise ApiError(
                errors.BAD_REQUEST,
                f"Media id {sub.id} is not a finalized upload with media_category subtitles.",
            )
        language = str(entry.get("language_code") or "").strip()
        if not language:
            raise ApiError(errors.BAD_REQUEST, "language_code is required for each subtitle.")
        added.append(
            {
                "media_id": sub.id_string,
                "language_code": language,
                "display_name": str(entry.get("display_name") or language),
            }
        )
    languages = {a["language_code"].lower() for a in added}
    video.subtitles = [s for s in video.subtitles if s["language_code"].lower() not in languages]
    video.subtitles.extend(added)
    return video


def _same_category(video: Media, category: str | None) -> None:
    if category is not None and category != video.category:
        raise ApiError(
            errors.BAD_REQUEST,
            f"media_category does not match media id {video.id}: it is {video.category}.",
        )


def delete_subtitles(
    state: EmulatorState,
    call: Call,
    video_id: object,
    languages: list[str],
    category: str | None = None,
) -> Media:
    video = state.store.get(video_id, call.user.id)
    _same_category(video, category)
    wanted = {lang.lower() for lang in languages if lang}
    if not wanted:
        raise ApiError(errors.BAD_REQUEST, "language_code is required.")
    present = {s["language_code"].lower() for s in video.subtitles}
    if not wanted & present:
        raise ApiError(errors.NOT_FOUND, "No subtitles in that language on this media.")
    video.subtitles = [s for s in video.subtitles if s["language_code"].lower() not in wanted]
    return video


def media_fields(state: EmulatorState, media: Media) -> dict[str, Any]:
    """Fields FINALIZE, STATUS and simple upload return (shared by both dialects)."""
    body: dict[str, Any] = {
        "media_key": media.key,
        "size": media.size,
        "expires_after_secs": state.store.remaining_secs(media),
    }
    processing = state.store.processing(media)
    if processing is not None:
        body["processing_info"] = processing.as_json()
    facts = media.facts
    if media.media_type.startswith(IMAGE_PREFIX) and facts is not None:
        # The type the server read from the bytes, as the real API reports it.
        image_type = facts.mime or media.media_type
        body["image"] = {"image_type": image_type, "w": facts.width, "h": facts.height}
    elif media.media_type.startswith("video/"):
        body["video"] = {"video_type": media.media_type}
    return body
