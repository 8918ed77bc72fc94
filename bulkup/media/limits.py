"""The media rules of the upload endpoint as data: what each category accepts.

``LIMITS`` is section 6 of ``shared/spec/x-media-upload.md``, one :class:`Limits` per
category; :func:`bulkup.media.rules.check` applies it. Everything here is also importable
from :mod:`bulkup.media.probe`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Final

from bulkup.core.spec import GIF_CATEGORIES, IMAGE_CATEGORIES, VIDEO_CATEGORIES

__all__ = [
    "GIF_TYPES",
    "IMAGE_TYPES",
    "LIMITS",
    "MAX_GIF_BYTES",
    "MAX_IMAGE_BYTES",
    "MAX_SUBTITLE_BYTES",
    "MAX_SYNC_VIDEO_BYTES",
    "MAX_VIDEO_BYTES",
    "MIB",
    "SUBTITLE_TYPES",
    "VIDEO_TYPES",
    "ImageLimits",
    "Limits",
    "TextLimits",
    "VideoLimits",
    "label",
    "labels",
    "limits_for",
]

MIB: Final = 1024 * 1024

IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
GIF_TYPES: Final = frozenset({"image/gif"})
VIDEO_TYPES: Final = frozenset({"video/mp4", "video/quicktime"})
SUBTITLE_TYPES: Final = frozenset({"text/srt", "text/vtt"})

MAX_IMAGE_BYTES: Final = 5 * MIB
MAX_GIF_BYTES: Final = 15 * MIB
MAX_VIDEO_BYTES: Final = 512 * MIB
MAX_SYNC_VIDEO_BYTES: Final = 15 * MIB
MAX_SUBTITLE_BYTES: Final = 1 * MIB  # Choice: the spec says "small"

# Short names of the types, in the order messages list them.
_LABELS: Final = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
    "video/mp4": "MP4",
    "video/quicktime": "MOV",
    "video/webm": "WebM",
    "video/mp2t": "MPEG-TS",
    "text/srt": "SRT",
    "text/vtt": "VTT",
}


def label(mime: str) -> str:
    """The short name people use for a MIME type: ``image/png`` -> ``PNG``."""
    return _LABELS.get(mime) or mime.partition("/")[2].upper()


_ORDER: Final = {mime: index for index, mime in enumerate(_LABELS)}


def labels(types: Iterable[str]) -> str:
    """Short names of ``types`` in a stable order: ``JPEG, PNG, GIF, WEBP``."""
    ordered = sorted(types, key=lambda mime: (_ORDER.get(mime, len(_ORDER)), mime))
    return ", ".join(label(mime) for mime in ordered)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageLimits:
    """Still images and GIFs. ``None`` means no limit."""

    types: frozenset[str]
    max_bytes: int
    allow_animated: bool
    max_width: int | None = None
    max_height: int | None = None
    max_frames: int | None = None
    max_total_pixels: int | None = None  # width * height * frames


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoLimits:
    """Video. Dimensions are orientation-free: the long side against ``max_long_side``."""

    types: frozenset[str] = VIDEO_TYPES
    max_bytes: int = MAX_VIDEO_BYTES
    min_duration: float = 0.5
    max_duration: float = 140.0
    min_side: int = 32
    max_long_side: int = 1280
    max_short_side: int = 1024
    min_aspect: Fraction = Fraction(1, 3)
    max_aspect: Fraction = Fraction(3, 1)
    max_fps: float = 60.0  # newer best-practices page; the v1.1 guide said 40
    video_codecs: frozenset[str] = frozenset({"h264"})
    pix_fmts: frozenset[str] = frozenset({"yuv420p", "yuvj420p"})
    audio_codecs: frozenset[str] = frozenset({"aac"})
    audio_profiles: frozenset[str] = frozenset({"LC"})
    max_audio_channels: int = 2
    closed_gop: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class TextLimits:
    types: frozenset[str] = SUBTITLE_TYPES
    max_bytes: int = MAX_SUBTITLE_BYTES


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """One row of the rules table: what a category accepts, by kind of media."""

    category: str | None
    image: ImageLimits | None = None
    video: VideoLimits | None = None
    text: TextLimits | None = None

    @property
    def types(self) -> frozenset[str]:
        kinds = (self.image, self.video, self.text)
        return frozenset[str]().union(*(k.types for k in kinds if k is not None))


_STILL: Final = ImageLimits(types=IMAGE_TYPES, max_bytes=MAX_IMAGE_BYTES, allow_animated=False)
_GIF: Final = ImageLimits(
    types=GIF_TYPES,
    max_bytes=MAX_GIF_BYTES,
    allow_animated=True,
    max_width=1280,
    max_height=1080,
    max_frames=350,
    max_total_pixels=300_000_000,
)
_VIDEO: Final = VideoLimits()

#: The rules per canonical category; ``None`` is an upload without ``media_category``:
#: images (animated GIF included) up to 5 MB, video on the synchronous path.
LIMITS: Final[Mapping[str | None, Limits]] = MappingProxyType(
    {
        **{c: Limits(category=c, image=_STILL) for c in sorted(IMAGE_CATEGORIES)},
        **{c: Limits(category=c, image=_GIF) for c in sorted(GIF_CATEGORIES)},
        **{c: Limits(category=c, video=_VIDEO) for c in sorted(VIDEO_CATEGORIES)},
        "subtitles": Limits(category="subtitles", text=TextLimits()),
        None: Limits(
            category=None,
            image=ImageLimits(types=IMAGE_TYPES, max_bytes=MAX_IMAGE_BYTES, allow_animated=True),
            video=VideoLimits(max_bytes=MAX_SYNC_VIDEO_BYTES, max_duration=30.0),
        ),
    }
)


def limits_for(category: str | None) -> Limits:
    """The rules for a canonical category (see :func:`bulkup.core.spec.normalize_category`)."""
    try:
        return LIMITS[category]
    except KeyError:
        raise ValueError(f"unknown media category {category!r}") from None
