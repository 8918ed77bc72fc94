"""Sniffing, probing and checking media: what the upload endpoint says about the bytes.

Three steps, all synchronous and free of network I/O:

* :func:`sniff` names the MIME type from the first bytes of a file (magic numbers only;
  extensions and declared types are never trusted).
* :func:`probe` reads a file into :class:`MediaFacts`: dimensions, frames, duration, codecs.
  Images go through Pillow, video containers through PyAV, metadata only (nothing is decoded
  beyond what proves an image whole). Bad media never raises: the facts carry ``error``.
* :func:`check` judges facts against the rules of one media category (``LIMITS``, taken from
  section 6 of ``shared/spec/x-media-upload.md``) and returns :class:`Problem` values shaped
  like the ``processing_info.error`` of the real API: code 1 ``InvalidMedia`` when the bytes
  cannot be read or are the wrong kind for the category, code 3 ``UnsupportedMedia`` when they
  are readable but break a rule.

The emulator calls :func:`probe` and :func:`check` at FINALIZE on the assembled bytes, as the
real server does; the client calls the same pair in preflight, so both reject the same files.
Open GOP detection is not implemented (not required): it would mean parsing the references of
every frame after each keyframe, far beyond a metadata probe. Every other rule of the table is
checked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, BinaryIO, Final

import av
from PIL import Image

from bulkup.spec import GIF_CATEGORIES, IMAGE_CATEGORIES, VIDEO_CATEGORIES

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.video.stream import VideoStream

__all__ = [
    "GIF_TYPES",
    "IMAGE_TYPES",
    "LIMITS",
    "MAX_DECODE_PIXELS",
    "MAX_GIF_BYTES",
    "MAX_IMAGE_BYTES",
    "MAX_PROVE_BYTES",
    "MAX_SUBTITLE_BYTES",
    "MAX_SYNC_VIDEO_BYTES",
    "MAX_VIDEO_BYTES",
    "SNIFF_BYTES",
    "SUBTITLE_TYPES",
    "VIDEO_TYPES",
    "ImageLimits",
    "Limits",
    "MediaFacts",
    "Problem",
    "TextLimits",
    "VideoLimits",
    "check",
    "limits_for",
    "probe",
    "sniff",
]

SNIFF_BYTES: Final = 4096
MIB: Final = 1024 * 1024

# --- sniffing ----------------------------------------------------------------------
_BOM: Final = b"\xef\xbb\xbf"
_MP4_BRANDS: Final = (b"isom", b"iso", b"mp4", b"avc", b"M4V", b"3gp", b"3g2", b"mmp4", b"dash")
_STILL_BRANDS: Final = frozenset({b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis"})
_QT_ATOMS: Final = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_BMP_DIB_SIZES: Final = frozenset({12, 40, 52, 56, 64, 108, 124})
_SRT_TIME: Final = r"\d{1,2}:\d{2}:\d{2}[,.]\d{3}"
_SRT_TIMING: Final = re.compile(rf"{_SRT_TIME}\s*-->\s*{_SRT_TIME}")
_MAGIC: Final[tuple[tuple[bytes, str], ...]] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"II+\x00", "image/tiff"),  # BigTIFF
    (b"\x1a\x45\xdf\xa3", "video/webm"),  # EBML (WebM / Matroska)
)


def sniff(head: bytes) -> str | None:
    """The MIME type named by the magic bytes at the start of ``head``, or ``None``.

    Give it the first :data:`SNIFF_BYTES` bytes of a file; shorter heads work for every
    type whose signature fits (MPEG-TS needs 189 bytes, SRT its first cue).
    """
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return _sniff_bmp(head) or _sniff_iso_bmff(head) or _sniff_ts(head) or _sniff_text(head)


def _sniff_bmp(head: bytes) -> str | None:
    if head[:2] != b"BM" or len(head) < 18:
        return None
    dib_size = int.from_bytes(head[14:18], "little")
    return "image/bmp" if dib_size in _BMP_DIB_SIZES else None


def _sniff_iso_bmff(head: bytes) -> str | None:
    box = head[4:8]
    if box != b"ftyp":
        return "video/quicktime" if box in _QT_ATOMS else None
    box_size = int.from_bytes(head[0:4], "big")
    brands = [head[8:12]] + [head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)]
    if brands[0] == b"qt  ":
        return "video/quicktime"
    if brands[0] in _STILL_BRANDS:  # HEIF/AVIF images share the box format
        return None
    if any(brand.startswith(_MP4_BRANDS) for brand in brands):
        return "video/mp4"
    return "video/quicktime" if b"qt  " in brands else None


def _sniff_ts(head: bytes) -> str | None:
    if len(head) <= 188 or head[0] != 0x47 or head[188] != 0x47:
        return None
    if len(head) > 376 and head[376] != 0x47:
        return None
    return "video/mp2t"


def _sniff_text(head: bytes) -> str | None:
    text = head.removeprefix(_BOM).decode("utf-8", errors="ignore")
    if text.startswith("WEBVTT") and (len(text) == 6 or text[6] in " \t\r\n"):
        return "text/vtt"
    lines = text.lstrip("\r\n").splitlines()
    if len(lines) >= 2 and lines[0].strip().isdigit() and _SRT_TIMING.match(lines[1].strip()):
        return "text/srt"
    return None


# --- facts -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class MediaFacts:
    """What :func:`probe` learned about one file. ``None`` means not known or not applicable."""

    mime: str | None
    size: int
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    animated: bool = False
    duration: float | None = None
    fps: float | None = None
    video_codec: str | None = None
    pix_fmt: str | None = None
    sample_aspect_ratio: tuple[int, int] | None = None
    interlaced: bool | None = None
    audio_codec: str | None = None
    audio_profile: str | None = None
    audio_channels: int | None = None
    error: str | None = None


def _family(mime: str | None) -> str | None:
    return None if mime is None else mime.partition("/")[0]


def _label(mime: str) -> str:
    return mime.partition("/")[2].upper()


def probe(path: str | os.PathLike[str]) -> MediaFacts:
    """Read the file at ``path`` into :class:`MediaFacts`; never raises for bad media.

    Unknown bytes give ``mime=None``; bytes that claim a type but do not decode give
    ``error`` (for example ``"corrupt or truncated PNG: ..."``). A file that cannot be
    opened at all gives ``mime=None`` with ``error`` set.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            mime = sniff(f.read(SNIFF_BYTES))
    except OSError as exc:
        return MediaFacts(mime=None, size=0, error=f"cannot read file: {exc}")
    family = _family(mime)
    if mime is None or family == "text":
        return MediaFacts(mime=mime, size=size)
    if family == "image":
        return _probe_image(Path(path), mime, size)
    return _probe_video(Path(path), mime, size)


def _broken(path: Path, mime: str, size: int, exc: Exception) -> MediaFacts:
    """Facts for bytes that claim ``mime`` but do not decode; the message names no paths."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    reason = reason.replace(str(path), path.name)
    return MediaFacts(mime=mime, size=size, error=f"corrupt or truncated {_label(mime)}: {reason}")


# Proving an image whole reads all of it: done up to these bounds (far above every image
# limit), so a huge file claiming to be an image costs neither memory nor minutes.
MAX_DECODE_PIXELS: Final = 40_000_000
MAX_PROVE_BYTES: Final = 32 * MIB


def _probe_image(path: Path, mime: str, size: int) -> MediaFacts:
    thorough = size <= MAX_PROVE_BYTES
    frames: int | None = None
    duration = None
    try:
        if mime == "image/gif" and thorough:  # Pillow's n_frames would walk the blocks again
            frames, duration = _gif_timing(path)
        with Image.open(path) as im:
            width, height = im.size
            if mime != "image/gif":
                frames = int(getattr(im, "n_frames", 1))
            if thorough:
                _prove_whole(im, mime)
    # Decoders fed hostile bytes raise more than OSError (SyntaxError, struct.error, ...).
    except Exception as exc:
        return _broken(path, mime, size, exc)
    animated = (frames or 1) > 1 and mime in ("image/gif", "image/webp")
    return MediaFacts(
        mime=mime,
        size=size,
        width=width,
        height=height,
        frames=frames,
        animated=animated,
        duration=duration if animated else None,
    )


def _prove_whole(im: Image.Image, mime: str) -> None:
    """Raise if the image data is cut short, decoding as little as possible."""
    if mime == "image/png":
        im.verify()  # walks every chunk and its CRC without inflating the pixels
        return
    if mime == "image/jpeg":
        im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))  # DCT scaling
    if im.width * im.height <= MAX_DECODE_PIXELS:
        im.load()  # first frame only for GIF/WebP; GIF frames are walked by _gif_timing


def _gif_timing(path: Path) -> tuple[int, float]:
    """Frame count and total duration (seconds) of a GIF, walking its blocks without decoding.

    Raises :class:`EOFError` when the data ends inside a block (a truncated file). A file
    that ends cleanly between blocks without the trailer byte is accepted, like browsers do.
    """
    frames, centis = 0, 0
    with path.open("rb") as f:
        header = _read_exact(f, 13)
        _skip_color_table(f, header[10])
        while (block := f.read(1)) not in (b"", b"\x3b"):
            if block == b"\x21":  # extension: label, then sub-blocks
                label = _read_exact(f, 1)
                first = _read_sub_blocks(f)
                if label == b"\xf9" and len(first) >= 3:  # graphic control: delay in 1/100 s
                    centis += int.from_bytes(first[1:3], "little")
            elif block == b"\x2c":  # image descriptor, local table, LZW code size, data
                descriptor = _read_exact(f, 9)
                _skip_color_table(f, descriptor[8])
                _read_exact(f, 1)
                _read_sub_blocks(f)
                frames += 1
            else:
                raise EOFError(f"unexpected GIF block 0x{block.hex()}")
    return frames, centis / 100


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise EOFError("GIF data ends inside a block")
    return data


def _skip_color_table(f: BinaryIO, packed: int) -> None:
    if packed & 0x80:
        _read_exact(f, 3 << ((packed & 0x07) + 1))


def _read_sub_blocks(f: BinaryIO) -> bytes:
    """Skip a chain of data sub-blocks; return the first one (all GIF extensions need)."""
    first = b""
    while length := _read_exact(f, 1)[0]:
        data = _read_exact(f, length)
        first = first or data
    return first


def _probe_video(path: Path, mime: str, size: int) -> MediaFacts:
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                return MediaFacts(mime=mime, size=size, error="no video stream")
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            return _video_facts(mime, size, container.duration, video, audio)
    except Exception as exc:  # PyAV raises av.error.* (OSError/ValueError subclasses) and more
        return _broken(path, mime, size, exc)


# AVFieldOrder: 0 unknown, 1 progressive, 2.. the four interlaced orders.
_FIELD_ORDER_UNKNOWN: Final = 0
_FIELD_ORDER_PROGRESSIVE: Final = 1


def _video_facts(
    mime: str,
    size: int,
    container_duration: int | None,
    video: VideoStream,
    audio: AudioStream | None,
) -> MediaFacts:
    ctx = video.codec_context
    rate = video.average_rate or video.guessed_rate
    sar = ctx.sample_aspect_ratio
    order = ctx.field_order
    return MediaFacts(
        mime=mime,
        size=size,
        width=ctx.width,
        height=ctx.height,
        frames=video.frames or None,
        duration=_duration(video, container_duration),
        fps=float(rate) if rate else None,
        video_codec=ctx.name,
        pix_fmt=ctx.format.name if ctx.format is not None else ctx.pix_fmt,
        sample_aspect_ratio=(sar.numerator, sar.denominator) if sar else None,
        interlaced=None if order == _FIELD_ORDER_UNKNOWN else order != _FIELD_ORDER_PROGRESSIVE,
        audio_codec=audio.codec_context.name if audio else None,
        audio_profile=audio.codec_context.profile if audio else None,
        audio_channels=audio.codec_context.layout.nb_channels if audio else None,
    )


def _duration(video: VideoStream, container_duration: int | None) -> float | None:
    if video.duration and video.time_base:
        return float(video.duration * video.time_base)
    if container_duration:
        return container_duration / av.time_base
    return None


# --- limits ------------------------------------------------------------------------
IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
GIF_TYPES: Final = frozenset({"image/gif"})
VIDEO_TYPES: Final = frozenset({"video/mp4", "video/quicktime"})
SUBTITLE_TYPES: Final = frozenset({"text/srt", "text/vtt"})

MAX_IMAGE_BYTES: Final = 5 * MIB
MAX_GIF_BYTES: Final = 15 * MIB
MAX_VIDEO_BYTES: Final = 512 * MIB
MAX_SYNC_VIDEO_BYTES: Final = 15 * MIB
MAX_SUBTITLE_BYTES: Final = 1 * MIB  # Choice: the spec says "small"


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
    """The rules for a canonical category (see :func:`bulkup.spec.normalize_category`)."""
    try:
        return LIMITS[category]
    except KeyError:
        raise ValueError(f"unknown media category {category!r}") from None


# --- checking ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Problem:
    """Why the endpoint would reject the media, as in ``processing_info.error``."""

    code: int
    name: str
    message: str


def _invalid(message: str) -> Problem:
    return Problem(1, "InvalidMedia", message)


def _unsupported(message: str) -> Problem:
    return Problem(3, "UnsupportedMedia", message)


_KIND_NAMES: Final = {"image": "image", "video": "video", "text": "subtitle"}


def check(
    facts: MediaFacts, category: str | None, *, declared_type: str | None = None
) -> list[Problem]:
    """Every rule of ``limits_for(category)`` that ``facts`` breaks; empty means acceptable.

    An ``InvalidMedia`` problem (unreadable, or the wrong kind of media for the
    category, or bytes of another family than ``declared_type``) is returned alone; otherwise
    all broken rules are listed as ``UnsupportedMedia``, the size first. Facts that are
    ``None`` are unknown and not judged: facts from :func:`sniff` alone pass every rule but
    the type.
    """
    limits = limits_for(category)
    if facts.mime is None:
        return [_invalid("media type unrecognized.")]
    family = _family(facts.mime) or ""
    kind = _KIND_NAMES.get(family, family)
    if facts.error is not None:
        return [_invalid(f"Unsupported {kind} format: {facts.error}")]
    declared = _family(declared_type)
    if declared in _KIND_NAMES and declared != family:
        return [_invalid(f"media_type {declared_type} does not match the {facts.mime} bytes")]
    rules = {"image": limits.image, "video": limits.video, "text": limits.text}.get(family)
    if rules is None or facts.mime not in rules.types:
        where = category or "uploads without media_category"
        return [_invalid(f"Unsupported {kind} format: {facts.mime} is not accepted for {where}")]
    if isinstance(rules, ImageLimits):
        return _check_image(facts, rules, category)
    if isinstance(rules, VideoLimits):
        return _check_video(facts, rules)
    return _check_size(facts, rules.max_bytes, "Subtitle")


def _check_size(facts: MediaFacts, max_bytes: int, kind: str) -> list[Problem]:
    if facts.size <= max_bytes:
        return []
    return [_unsupported(f"{kind} file size must be <= {max_bytes} bytes, got {facts.size}")]


def _check_image(facts: MediaFacts, rules: ImageLimits, category: str | None) -> list[Problem]:
    if facts.animated and not rules.allow_animated:
        return [_invalid(f"Animated images are not accepted for {category}; use a *_gif category")]
    problems = _check_size(facts, rules.max_bytes, "GIF" if facts.mime in GIF_TYPES else "Image")
    width, height, frames = facts.width or 0, facts.height or 0, facts.frames or 1
    if (rules.max_width and width > rules.max_width) or (
        rules.max_height and height > rules.max_height
    ):
        limit = f"{rules.max_width}x{rules.max_height}"
        problems.append(_unsupported(f"Resolution {width}x{height} exceeds max of {limit}"))
    if rules.max_frames and frames > rules.max_frames:
        problems.append(_unsupported(f"Frame count {frames} exceeds max of {rules.max_frames}"))
    if rules.max_total_pixels and width * height * frames > rules.max_total_pixels:
        total = width * height * frames
        problems.append(
            _unsupported(f"Pixel count {total} exceeds max of {rules.max_total_pixels}")
        )
    return problems


def _check_video(facts: MediaFacts, rules: VideoLimits) -> list[Problem]:
    return [
        *_check_size(facts, rules.max_bytes, "Video"),
        *_check_duration(facts.duration, rules),
        *_check_geometry(facts, rules),
        *_check_video_stream(facts, rules),
        *_check_audio(facts, rules),
    ]


def _check_duration(duration: float | None, rules: VideoLimits) -> list[Problem]:
    if duration is None:
        return []
    if duration > rules.max_duration:
        return [
            _unsupported(
                f"Duration {_scala(duration)} exceeds max duration of {_scala(rules.max_duration)}"
            )
        ]
    if duration < rules.min_duration:
        return [
            _unsupported(
                f"Duration {_scala(duration)} is shorter than min duration of "
                f"{_scala(rules.min_duration)}"
            )
        ]
    return []


def _scala(seconds: float) -> str:
    """Seconds in the server's Scala style: ``140`` -> ``2.minutes+20.seconds``."""
    millis = round(seconds * 1000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    parts = [(minutes, "minutes"), (secs, "seconds"), (millis, "milliseconds")]
    return "+".join(f"{n}.{unit}" for n, unit in parts if n) or "0.seconds"


def _check_geometry(facts: MediaFacts, rules: VideoLimits) -> list[Problem]:
    problems = []
    if facts.width is not None and facts.height is not None:
        problems += _check_dimensions(facts.width, facts.height, rules)
    sar = facts.sample_aspect_ratio
    if sar is not None and sar[0] != sar[1] and sar[0] != 0:
        problems.append(_unsupported(f"Pixel aspect ratio {sar[0]}:{sar[1]} is not 1:1"))
    if facts.interlaced:
        problems.append(_unsupported("Interlaced video is not supported; use progressive scan"))
    return problems


def _check_dimensions(width: int, height: int, rules: VideoLimits) -> list[Problem]:
    problems = []
    long_side, short_side = max(width, height), min(width, height)
    if (
        short_side < rules.min_side
        or long_side > rules.max_long_side
        or short_side > rules.max_short_side
    ):
        allowed = f"{rules.min_side}x{rules.min_side}..{rules.max_long_side}x{rules.max_short_side}"
        problems.append(_unsupported(f"Invalid dimensions {width}x{height}: allowed {allowed}"))
    if height and not rules.min_aspect <= Fraction(width, height) <= rules.max_aspect:
        problems.append(_unsupported(f"Invalid aspect ratio {width}x{height}: allowed 1:3..3:1"))
    return problems


def _check_video_stream(facts: MediaFacts, rules: VideoLimits) -> list[Problem]:
    problems = []
    if facts.video_codec is not None and facts.video_codec not in rules.video_codecs:
        problems.append(_unsupported(f"Unsupported video codec {facts.video_codec}: use H.264"))
    if facts.pix_fmt is not None and facts.pix_fmt not in rules.pix_fmts:
        problems.append(_unsupported(f"Unsupported pixel format {facts.pix_fmt}: use yuv420p"))
    if facts.fps is not None and facts.fps > rules.max_fps + 0.01:
        problems.append(
            _unsupported(f"Frame rate {facts.fps:.2f} fps exceeds max of {rules.max_fps:g}")
        )
    return problems


def _check_audio(facts: MediaFacts, rules: VideoLimits) -> list[Problem]:
    if facts.audio_codec is None:
        return []  # audio is optional
    problems = []
    if facts.audio_codec not in rules.audio_codecs:
        problems.append(_unsupported(f"Unsupported audio codec {facts.audio_codec}: use AAC-LC"))
    elif facts.audio_profile is not None and facts.audio_profile not in rules.audio_profiles:
        problems.append(
            _unsupported(f"Unsupported AAC profile {facts.audio_profile}: use Low Complexity")
        )
    channels = facts.audio_channels or 0
    if channels > rules.max_audio_channels:
        problems.append(
            _unsupported(f"Audio has {channels} channels: only mono or stereo is supported")
        )
    return problems
