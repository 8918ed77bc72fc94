"""Before an item's first request: its file checked, its type found, its upload planned.

:func:`prepare` stats the file (a regular, non-empty, readable file), finds its type
and category (preflight reads the bytes; without it, the declared type, else the
sniffed bytes, else the extension), refuses what the dialect's endpoint would refuse,
and fixes the :class:`~bulkup.core.steps.Plan`: strategy and chunk size.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

import aiofiles
import anyio

from bulkup.client.config import SIMPLE_UPLOAD_MAX_BYTES, UploadConfig
from bulkup.core import spec
from bulkup.core.items import FileIdentity, Item, UploadParams
from bulkup.core.session import chunk_size_for
from bulkup.core.steps import Plan
from bulkup.errors import FileChanged, FileProblem
from bulkup.media import probe as mediacheck
from bulkup.media.preflight import placed, preflight


@dataclass(frozen=True, slots=True)
class Prepared:
    """An item ready to upload: its file as it was seen and the plan to send it by."""

    identity: FileIdentity
    plan: Plan
    params: UploadParams
    warnings: tuple[str, ...] = ()


def identify(path: str) -> FileIdentity:
    """Size and mtime of a regular, non-empty, readable file, or a clear FileProblem."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileProblem(f"{path}: file not found", kind="missing_file") from None
    except OSError as exc:
        raise FileProblem(f"{path}: cannot stat ({exc.strerror})", kind="unreadable") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileProblem(f"{path}: not a regular file", kind="not_a_file")
    if st.st_size == 0:
        raise FileProblem(f"{path}: the file is empty", kind="empty_file")
    return FileIdentity(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def verify(path: str, identity: FileIdentity) -> None:
    """Raise :class:`FileChanged` unless the file is as ``identity`` saw it."""
    if not identify(path).same_file(identity):
        raise FileChanged(
            f"{path} changed during the upload (its size, modification or status-change "
            "time, or inode differs); it was not finalized. Run again once the file is "
            "stable."
        )


def verify_segments(path: str, segments: tuple[tuple[int, int, int, str], ...]) -> None:
    """Raise :class:`FileChanged` unless each (index, offset, length, SHA-256) range of
    the file still hashes as it did when it was sent (blocking: run it in a thread)."""
    try:
        with open(path, "rb") as fh:
            for index, offset, length, expected in segments:
                fh.seek(offset)
                if hashlib.sha256(fh.read(length)).hexdigest() != expected:
                    raise FileChanged(
                        f"{path}: segment {index} (bytes {offset}-{offset + length - 1}) is not "
                        "what was sent before; the upload starts over"
                    )
    except OSError as exc:
        raise FileChanged(f"{path}: cannot read it again ({exc.strerror})") from None


async def sniff_type(path: str) -> str | None:
    try:
        async with aiofiles.open(path, "rb") as fh:
            head = await fh.read(mediacheck.SNIFF_BYTES)
    except PermissionError:
        raise FileProblem(f"{path}: permission denied", kind="unreadable") from None
    except OSError as exc:
        raise FileProblem(f"{path}: cannot read ({exc.strerror})", kind="unreadable") from None
    return mediacheck.sniff(head)


def default_category(media_type: str) -> str | None:
    if media_type == "image/gif":
        return "tweet_gif"
    if media_type.startswith("image/"):
        return "tweet_image"
    if media_type.startswith("video/"):
        return "tweet_video"
    if media_type in ("text/srt", "text/vtt", "application/x-subrip"):
        return "subtitles"
    return None


async def prepare(
    item: Item,
    config: UploadConfig,
    dialect: str,
    *,
    one_shot: Callable[[], bool] | None = None,
) -> Prepared:
    """The item's file identity, plan and parameters, or a :class:`FileProblem`."""
    path = str(item.path)
    identity = identify(path)
    warnings: tuple[str, ...] = ()
    if config.preflight:
        pre = await anyio.to_thread.run_sync(
            functools.partial(preflight, item, default_category=config.category)
        )
        warnings = pre.warnings
        if not pre.ok or pre.media_type is None:
            message = "; ".join(pre.lines) or "media type unrecognized"
            raise FileProblem(placed(item, message), kind="preflight")
        media_type, category = pre.media_type, pre.category
    else:
        media_type = await _declared_or_sniffed(item)
        category = item.media_category or config.category or default_category(media_type)
    _check_request_fields(item, media_type, category, dialect)
    plan = _plan(item, identity.size, media_type, category, config, one_shot)
    return Prepared(identity, plan, params_of(plan, item), warnings)


def _plan(
    item: Item,
    size: int,
    media_type: str,
    category: str | None,
    config: UploadConfig,
    one_shot: Callable[[], bool] | None = None,
) -> Plan:
    """The item's plan. ``--strategy auto`` sends a small still image one-shot, unless
    ``one_shot()`` (the budgets: see :meth:`Pacer.one_shot_or_chunked`) says chunked."""
    strategy = config.strategy
    if strategy == "auto":
        simple_ok = category in (None, "tweet_image", "dm_image")
        image = media_type.startswith("image/") and media_type != "image/gif"
        small = simple_ok and image and size <= SIMPLE_UPLOAD_MAX_BYTES
        strategy = "simple" if small and (one_shot is None or one_shot()) else "chunked"
    if strategy == "simple" and item.shared:
        # One-shot has no "shared" field: an upload to be shared goes by initialize.
        strategy = "chunked"
    return Plan(
        size=size,
        media_type=media_type,
        media_category=category,
        chunk_size=chunk_size_for(size, config.chunk_size),
        strategy="simple" if strategy == "simple" else "chunked",
        additional_owners=item.additional_owners,
        shared=item.shared,
    )


def _check_request_fields(item: Item, media_type: str, category: str | None, dialect: str) -> None:
    """Refuse, before any request, what the dialect's endpoint would refuse."""
    path = str(item.path)
    if dialect == "v2" and media_type not in spec.V2_MEDIA_TYPES:
        alias = spec.MEDIA_TYPE_ALIASES.get(media_type)
        fix = (
            f"declare media_type {alias}"
            if alias
            else "declare one of X's media types (image/jpeg, image/png, video/mp4, …) "
            "or leave media_type out to detect it"
        )
        raise FileProblem(
            f"{path}: media_type {media_type} is not one X accepts; {fix}",
            kind="unsupported_type",
        )
    if dialect == "v1.1" and item.allow_download is not None:
        raise FileProblem(
            f"{path}: allow_download is a v2 metadata field; the v1.1 metadata "
            "endpoint has none: use --api v2, or drop allow_download",
            kind="unsupported_metadata",
        )
    if item.subtitles and category not in spec.SUBTITLE_VIDEO_CATEGORIES:
        raise FileProblem(
            f"subtitles attach to tweet_video or amplify_video media, not {category}",
            kind="preflight",
        )


async def _declared_or_sniffed(item: Item) -> str:
    """The type without preflight: declared, else the bytes, else the extension."""
    if item.media_type:
        return item.media_type  # as declared: checked, never rewritten
    path = str(item.path)
    media_type = await sniff_type(path) or mimetypes.guess_type(path)[0]
    media_type = spec.MEDIA_TYPE_ALIASES.get(media_type or "", media_type)
    if not media_type:
        raise FileProblem(
            f"{path}: unknown media type: neither the bytes nor the extension say "
            "what it is; set media_type in the manifest",
            kind="unknown_type",
        )
    return media_type


def params_of(plan: Plan, item: Item) -> UploadParams:
    """Everything the item is uploaded with, as the checkpoint keeps it."""
    return UploadParams(
        media_type=plan.media_type,
        media_category=plan.media_category,
        chunk_size=plan.chunk_size,
        strategy=plan.strategy,
        metadata=item.metadata,
        subtitles=item.subtitles,
        post=item.post,
        additional_owners=plan.additional_owners,
        shared=plan.shared,
    )


__all__ = [
    "FileIdentity",
    "Prepared",
    "default_category",
    "identify",
    "prepare",
    "verify",
    "verify_segments",
]
