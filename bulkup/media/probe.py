"""Sniffing, probing and checking media: what the upload endpoint says about the bytes.

Three steps, all synchronous and free of network I/O:

* :func:`sniff` names the MIME type from the first bytes of a file (magic numbers only;
  extensions and declared types are never trusted).
* :func:`probe` reads a file into :class:`MediaFacts`: dimensions, frames, duration, codecs,
  GOP structure. Images go through Pillow, video containers through PyAV, metadata only
  (nothing is decoded beyond what proves an image whole). Bad media never raises: the facts
  carry ``error``.
* :func:`check` judges facts against the rules of one media category. It lives in
  :mod:`bulkup.media.rules` and the rules table in :mod:`bulkup.media.limits`; both are
  re-exported here, so ``bulkup.media.probe`` stays the one import.

The emulator calls :func:`probe` and :func:`check` at FINALIZE on the assembled bytes, as the
real server does; the client calls the same pair in preflight, so both reject the same files.

**Open GOP** (``MediaFacts.open_gop``) is told from packet timestamps, without decoding: the
first packets of the video stream are demuxed (at most :data:`GOP_SCAN_PACKETS` packets and
:data:`GOP_SCAN_BYTES` bytes) and a GOP is open when a packet that follows a keyframe in
decode order, before the next keyframe, is presented *before* that keyframe (a leading
B-frame, which references the previous GOP; x264's ``open-gop=1`` makes these). ``False``
needs proof and no leading picture on the way: the stream ended, or a keyframe after the
first was followed by the next keyframe or by :data:`GOP_REORDER_PACKETS` packets (the
deepest reordering H.264 allows). Otherwise (a first GOP longer than the budget, no
timestamps) the answer is ``None``, unknown and not judged. Not seen: open I-frames that the
container does not flag as keyframes (FFmpeg's MP4/MOV muxer flags them, as x264 marks them)
look like any other frame, so such a file passes as closed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final

from bulkup.media.limits import (
    GIF_TYPES,
    IMAGE_TYPES,
    LIMITS,
    MAX_GIF_BYTES,
    MAX_IMAGE_BYTES,
    MAX_SUBTITLE_BYTES,
    MAX_SYNC_VIDEO_BYTES,
    MAX_VIDEO_BYTES,
    MIB,
    SUBTITLE_TYPES,
    VIDEO_TYPES,
    ImageLimits,
    Limits,
    TextLimits,
    VideoLimits,
    limits_for,
)
from bulkup.media.rules import Problem, check

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.container import InputContainer
    from av.video.stream import VideoStream
    from PIL import Image

# Pillow and PyAV are imported by the probes that use them, not with this module: the
# uploader imports it (sniffing, preflight), and ``bulkup upload --no-preflight`` of
# files with a declared type never probes (PyAV alone took 50 ms of every start-up).

__all__ = [
    "GIF_TYPES",
    "GOP_REORDER_PACKETS",
    "GOP_SCAN_BYTES",
    "GOP_SCAN_PACKETS",
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
    #: True: a leading picture was seen (open GOP); False: proven closed; None: unknown.
    open_gop: bool | None = None
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
    from PIL import Image

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
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                return MediaFacts(mime=mime, size=size, error="no video stream")
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            facts = _video_facts(mime, size, container.duration, video, audio)
            return replace(facts, open_gop=_open_gop(container, video))
    except Exception as exc:  # PyAV raises av.error.* (OSError/ValueError subclasses) and more
        return _broken(path, mime, size, exc)


# Bounds of the open-GOP scan: two GOPs of 1-2 s at 60 fps fit, and the default x264 GOP
# of 250 frames; the bytes are a few seconds of the highest bitrates a phone records.
GOP_SCAN_PACKETS: Final = 300
GOP_SCAN_BYTES: Final = 32 * MIB
#: Leading pictures follow their keyframe within this many packets (H.264's largest DPB).
GOP_REORDER_PACKETS: Final = 16


def _open_gop(container: InputContainer, video: VideoStream) -> bool | None:
    """Whether a GOP among the first ones is open: see the module docstring."""
    import av

    keyframe_pts: int | None = None
    keyframes = after = packets = read = 0
    try:
        for packet in container.demux(video):
            if packet.pts is None or not packet.size:  # the flush packet, or no timestamps
                continue
            if packet.is_keyframe:
                if keyframes >= 2:  # a whole GOP after the first one was seen
                    return False
                keyframe_pts, keyframes, after = packet.pts, keyframes + 1, 0
            elif keyframe_pts is not None:
                if packet.pts < keyframe_pts:
                    return True
                after += 1
                if keyframes >= 2 and after >= GOP_REORDER_PACKETS:
                    return False
            packets, read = packets + 1, read + packet.size
            if packets >= GOP_SCAN_PACKETS or read >= GOP_SCAN_BYTES:
                return None
    except av.FFmpegError:  # damaged data further in: the headers were fine, judge no GOP
        return None
    return False if keyframes else None


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
    import av

    if video.duration and video.time_base:
        return float(video.duration * video.time_base)
    if container_duration:
        return container_duration / av.time_base
    return None
