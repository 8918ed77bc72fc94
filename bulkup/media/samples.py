"""Real media files on demand, for tests, demos and benchmarks.

Every function writes one file and returns its :class:`~pathlib.Path`. Output is a function of
the arguments: the same ``seed`` gives the same pixels, samples and padding. Nothing here is
mocked: images come from Pillow, video from PyAV (libx264/AAC by default), so the files pass or
fail :func:`bulkup.media.probe.check` for the same reasons a phone's files would. Parameters reach
past the rules on purpose (``seconds=150``, ``width=2000``, ``pix_fmt="yuv444p"``,
``audio_channels=6``, ``interlaced=True``, ``container="webm"``) to produce files the upload
endpoint rejects::

    from bulkup.media import samples
    samples.write_image("big.png", target_bytes=6 * 1024 * 1024)   # valid PNG, over 5 MB
    samples.write_video("long.mp4", width=64, height=64, seconds=150, fps=5, audio=False)

Large outputs are streamed: :func:`write_bytes` and the padding of :func:`write_image` hold at
most one block of :data:`BLOCK_BYTES` in memory, whatever the size asked for.
"""

from __future__ import annotations

import io
import math
import os
import random
import struct
import zlib
from array import array
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Final, Literal

import av
from av.audio.stream import AudioStream
from av.codec.context import Flags
from av.container import OutputContainer
from av.video.stream import VideoStream
from PIL import Image, ImageDraw

__all__ = [
    "BLOCK_BYTES",
    "ImageFormat",
    "write_bytes",
    "write_gif",
    "write_image",
    "write_srt",
    "write_video",
    "write_vtt",
]

BLOCK_BYTES: Final = 1024 * 1024
ImageFormat = Literal["png", "jpeg", "webp", "gif", "bmp", "tiff"]
StrPath = str | os.PathLike[str]


def _blocks(size: int, rng: random.Random, block: int = BLOCK_BYTES) -> Iterator[bytes]:
    """``size`` random bytes, one block at a time."""
    while size > 0:
        n = min(block, size)
        yield rng.randbytes(n)
        size -= n


def _write(path: StrPath, pieces: Iterator[bytes] | list[bytes]) -> Path:
    out = Path(path)
    with out.open("wb") as f:
        for piece in pieces:
            f.write(piece)
            del piece  # let the block go before the next one is made
    return out


def write_bytes(path: StrPath, size: int, *, seed: int = 0) -> Path:
    """``size`` random bytes (not media: the case of a wrong or corrupt upload)."""
    return _write(path, _blocks(size, random.Random(seed)))


# --- images ------------------------------------------------------------------------
def _noise(width: int, height: int, rng: random.Random, mode: str = "RGB") -> Image.Image:
    """Random pixels: incompressible, so file size follows the dimensions."""
    if mode == "P":
        im = Image.frombytes("P", (width, height), rng.randbytes(width * height))
        im.putpalette(rng.randbytes(768))
        return im
    return Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))


_PIL_FORMATS: Final[dict[str, str]] = {
    "png": "PNG",
    "jpeg": "JPEG",
    "webp": "WEBP",
    "gif": "GIF",
    "bmp": "BMP",
    "tiff": "TIFF",
}


def write_image(
    path: StrPath,
    *,
    fmt: ImageFormat = "png",
    width: int = 64,
    height: int = 48,
    seed: int = 0,
    target_bytes: int | None = None,
) -> Path:
    """A still image of random pixels in ``fmt``.

    With ``target_bytes``, the file is padded to that size (within a few bytes) and stays a
    valid image: a private ancillary chunk for PNG, COM segments for JPEG, a comment
    extension for GIF, an unknown chunk (extended format) for WebP, a gap before the pixel
    array for BMP, unreferenced trailing bytes for TIFF. A file already larger than the
    target is left as it is.
    """
    rng = random.Random(seed)
    buf = io.BytesIO()
    _noise(width, height, rng, "P" if fmt == "gif" else "RGB").save(buf, _PIL_FORMATS[fmt])
    base = buf.getvalue()
    pad = 0 if target_bytes is None else target_bytes - len(base)
    if pad <= 16:
        return _write(path, [base])
    return _write(path, _PADDERS[fmt](base, pad, rng))


def _pad_png(base: bytes, pad: int, rng: random.Random) -> Iterator[bytes]:
    yield base[:-12]  # everything up to IEND
    while pad > 12:
        (data,) = _blocks(min(BLOCK_BYTES, pad - 12), rng)
        kind = b"bkPd"  # ancillary, private, safe to copy
        yield struct.pack(">I", len(data)) + kind
        yield data
        yield struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))
        pad -= len(data) + 12
    yield base[-12:]


def _pad_jpeg(base: bytes, pad: int, rng: random.Random) -> Iterator[bytes]:
    yield base[:2]  # SOI
    while pad > 4:
        (data,) = _blocks(min(65533, pad - 4), rng)
        yield b"\xff\xfe" + struct.pack(">H", len(data) + 2) + data  # COM segment
        pad -= len(data) + 4
    yield base[2:]


def _pad_gif(base: bytes, pad: int, rng: random.Random) -> Iterator[bytes]:
    yield base[:-1]  # everything before the trailer
    yield b"\x21\xfe"  # comment extension
    data_bytes = (pad - 3) * 255 // 256
    for block in _blocks(data_bytes, rng, block=255 * 4096):
        yield b"".join(
            bytes([len(block[i : i + 255])]) + block[i : i + 255] for i in range(0, len(block), 255)
        )
    yield b"\x00" + base[-1:]


def _pad_webp(base: bytes, pad: int, rng: random.Random) -> Iterator[bytes]:
    vp8x = b""  # unknown chunks need the extended format: add its header if missing
    if base[12:16] != b"VP8X":
        with Image.open(io.BytesIO(base)) as im:
            width, height = im.size
        vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4)
        vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    data_bytes = (pad - len(vp8x) - 8) & ~1  # RIFF chunks are even-sized
    body = len(base) - 8 + len(vp8x) + 8 + data_bytes
    yield b"RIFF" + struct.pack("<I", body) + b"WEBP" + vp8x + base[12:]
    yield b"PADD" + struct.pack("<I", data_bytes)
    yield from _blocks(data_bytes, rng)


def _pad_bmp(base: bytes, pad: int, rng: random.Random) -> Iterator[bytes]:
    offset = int.from_bytes(base[10:14], "little")
    header = bytearray(base[:offset])
    header[2:6] = struct.pack("<I", len(base) + pad)
    header[10:14] = struct.pack("<I", offset + pad)
    yield bytes(header)
    yield from _blocks(pad, rng)  # the optional "gap" before the pixel array
    yield base[offset:]


def _pad_tiff(base: bytes, pad: int, rng: random.Random) -> Iterator[bytes]:
    yield base
    yield from _blocks(pad, rng)  # no IFD points here: readers never look


_PADDERS: Final = {
    "png": _pad_png,
    "jpeg": _pad_jpeg,
    "gif": _pad_gif,
    "webp": _pad_webp,
    "bmp": _pad_bmp,
    "tiff": _pad_tiff,
}


def write_gif(
    path: StrPath,
    *,
    width: int = 64,
    height: int = 48,
    frames: int = 5,
    seed: int = 0,
    frame_ms: int = 100,
) -> Path:
    """An animated GIF of ``frames`` random frames, each shown ``frame_ms`` milliseconds."""
    rng = random.Random(seed)
    images = [_noise(width, height, rng, "P") for _ in range(frames)]
    out = Path(path)
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
    return out


# --- video -------------------------------------------------------------------------
AUDIO_RATE: Final = 48_000
_LAYOUTS: Final = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 8: "7.1"}
_FAST_OPTIONS: Final[dict[str, dict[str, str]]] = {
    "libx264": {"preset": "ultrafast"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"},
}
_FIELD_ORDER_TT: Final = 2  # AVFieldOrder AV_FIELD_TT: top field first


def write_video(
    path: StrPath,
    *,
    width: int = 320,
    height: int = 240,
    seconds: float = 1.0,
    fps: int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: bool = True,
    audio_channels: int = 2,
    audio_codec: str = "aac",
    container: str = "mp4",
    seed: int = 0,
    sample_aspect_ratio: tuple[int, int] | None = None,
    interlaced: bool = False,
) -> Path:
    """A video of a moving square over a seeded background, with a tone when ``audio``.

    ``container`` is an FFmpeg muxer name (``mp4``, ``mov``, ``webm``, ``mpegts``, ...).
    WebM needs ``codec="libvpx"`` and ``audio_codec="libopus"``. Encoding uses the fastest
    presets, so a second of 320x240 takes a few tens of milliseconds.
    """
    out = Path(path)
    with av.open(str(out), "w", format=container) as box:
        video = _add_video(box, codec, fps, width, height, pix_fmt)
        if sample_aspect_ratio is not None:
            video.codec_context.sample_aspect_ratio = Fraction(*sample_aspect_ratio)
        if interlaced:
            video.codec_context.flags |= Flags.interlaced_dct
            video.codec_context.field_order = _FIELD_ORDER_TT
        sound = _add_audio(box, audio_codec, audio_channels) if audio else None
        _encode_pictures(box, video, _count(seconds, fps), random.Random(seed))
        if sound is not None:
            _encode_tone(box, sound, _count(seconds, AUDIO_RATE))
    return out


def _count(seconds: float, rate: int) -> int:
    """Frames or samples covering at least ``seconds`` (float noise aside)."""
    return max(1, math.ceil(seconds * rate - 1e-6))


def _require_encoder(name: str, kind: str) -> None:
    if av.Codec(name, "w").type != kind:
        raise ValueError(f"{name!r} is not an {kind} encoder")


def _add_video(
    box: OutputContainer, codec: str, fps: int, width: int, height: int, pix_fmt: str
) -> VideoStream:
    _require_encoder(codec, "video")
    stream = box.add_stream(codec, rate=fps)
    assert isinstance(stream, VideoStream)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.options = dict(_FAST_OPTIONS.get(codec, {}))
    return stream


def _add_audio(box: OutputContainer, codec: str, channels: int) -> AudioStream:
    _require_encoder(codec, "audio")
    stream = box.add_stream(codec, rate=AUDIO_RATE, layout=_layout(channels))
    assert isinstance(stream, AudioStream)
    return stream


def _layout(channels: int) -> str:
    try:
        return _LAYOUTS[channels]
    except KeyError:
        raise ValueError(
            f"unsupported audio_channels {channels}; use one of {list(_LAYOUTS)}"
        ) from None


def _encode_pictures(
    box: OutputContainer, stream: VideoStream, count: int, rng: random.Random
) -> None:
    width, height = stream.width, stream.height
    background = (rng.randrange(256), rng.randrange(256), rng.randrange(256), 255)
    side = max(2, min(width, height) // 4)
    for index in range(count):
        picture = Image.new("RGBA", (width, height), background)
        x = (index * 3) % max(1, width - side)
        ImageDraw.Draw(picture).rectangle((x, 0, x + side, side), fill=(255, 255, 255, 255))
        frame = av.VideoFrame.from_bytes(picture.tobytes(), width, height, format="rgba")
        frame.pts = index
        box.mux(stream.encode(frame))
    box.mux(stream.encode(None))


def _encode_tone(box: OutputContainer, stream: AudioStream, samples: int) -> None:
    """A 375 Hz sine (exactly 8 periods per 1024 samples), resampled by PyAV as needed."""
    block = 1024
    wave = array("f", (0.2 * math.sin(2 * math.pi * 8 * i / block) for i in range(block)))
    layout = stream.codec_context.layout.name
    channels = stream.codec_context.layout.nb_channels
    pts = 0
    while pts < samples:
        frame = av.AudioFrame(format="fltp", layout=layout, samples=block)
        for plane in frame.planes[:channels]:
            plane.update(wave.tobytes())
        frame.sample_rate, frame.pts = AUDIO_RATE, pts
        box.mux(stream.encode(frame))
        pts += block
    box.mux(stream.encode(None))


# --- subtitles ---------------------------------------------------------------------
def _timestamp(seconds: int, sep: str) -> str:
    return f"00:{seconds // 60:02d}:{seconds % 60:02d}{sep}000"


def write_srt(path: StrPath, *, cues: int = 3) -> Path:
    """SubRip subtitles: ``cues`` one-second cues."""
    text = "".join(
        f"{i + 1}\n{_timestamp(i, ',')} --> {_timestamp(i + 1, ',')}\nCue {i + 1}\n\n"
        for i in range(cues)
    )
    Path(path).write_text(text, encoding="utf-8")
    return Path(path)


def write_vtt(path: StrPath, *, cues: int = 3) -> Path:
    """WebVTT subtitles: ``cues`` one-second cues."""
    body = "".join(
        f"{_timestamp(i, '.')} --> {_timestamp(i + 1, '.')}\nCue {i + 1}\n\n" for i in range(cues)
    )
    Path(path).write_text("WEBVTT\n\n" + body, encoding="utf-8")
    return Path(path)
