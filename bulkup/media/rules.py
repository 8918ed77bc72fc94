"""Judging media: :func:`check` applies the rules of one category to the facts of a file.

:func:`check` returns :class:`Problem` values shaped like the ``processing_info.error`` of
the real API: code 1 ``InvalidMedia`` when the bytes cannot be read or are the wrong kind for
the category, code 3 ``UnsupportedMedia`` when they are readable but break a rule of
:data:`~bulkup.media.limits.LIMITS`.

Each problem also says what broke for people: ``rule``, the file's ``value`` and the
``limit``, which :meth:`Problem.line` joins into the one line preflight prints::

    duration 150.2 s exceeds 140 s for tweet_video
    pixel format yuv444p is not yuv420p for tweet_video

Everything here is also importable from :mod:`bulkup.media.probe`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Final

from bulkup.media.limits import (
    GIF_TYPES,
    MIB,
    ImageLimits,
    Limits,
    VideoLimits,
    label,
    labels,
    limits_for,
)

if TYPE_CHECKING:
    from bulkup.media.probe import MediaFacts

__all__ = ["Problem", "check"]


# --- problems ----------------------------------------------------------------------
# What each rule is called in a line; rules in _NO_CATEGORY hold whatever the category.
_WHAT: Final = {
    "aspect_ratio": "aspect ratio",
    "audio_channels": "audio channels",
    "audio_codec": "audio codec",
    "audio_profile": "audio profile",
    "corrupt": "unreadable:",
    "frame_rate": "frame rate",
    "interlaced": "scan",
    "open_gop": "GOP structure",
    "pixel_format": "pixel format",
    "pixels": "width x height x frames",
    "sample_aspect_ratio": "sample aspect ratio",
    "video_codec": "video codec",
}
_NO_CATEGORY: Final = frozenset({"corrupt", "alt_text"})


@dataclass(frozen=True, slots=True)
class Problem:
    """Why the endpoint would reject the media, as in ``processing_info.error``.

    ``code``, ``name`` and ``message`` are what the API says (the emulator returns them,
    and only they take part in ``==``). The rest is for people: ``rule`` names the broken
    rule, ``value`` is the file's value and ``limit`` the allowed one, both as text with
    units, and ``relation`` the verb between them. :func:`check` fills them for every
    problem; ``rule`` is ``None`` only for problems made elsewhere (emulator fault injection).

    Rules: ``type`` (wrong or unrecognized type, animated where only stills go, declared
    type of another family), ``corrupt``, ``size``, ``dimensions``, ``frames``, ``pixels``
    (GIF width x height x frames), ``duration``, ``aspect_ratio``, ``sample_aspect_ratio``,
    ``interlaced``, ``video_codec``, ``pixel_format``, ``frame_rate``, ``open_gop``,
    ``audio_codec``, ``audio_profile``, ``audio_channels``; preflight adds ``alt_text``.
    """

    code: int
    name: str
    message: str
    rule: str | None = field(default=None, compare=False)
    value: str | None = field(default=None, compare=False)
    limit: str | None = field(default=None, compare=False)
    relation: str = field(default="exceeds", compare=False)

    def line(self, category: str | None) -> str:
        """The preflight wording: ``duration 150.2 s exceeds 140 s for tweet_video``."""
        if self.rule is None:
            return self.message
        words = [_WHAT.get(self.rule, self.rule), self.value, self.relation, self.limit]
        if self.rule not in _NO_CATEGORY:
            words.append(f"for {category or 'uploads without media_category'}")
        return " ".join(word for word in words if word)


def _invalid(message: str, rule: str, value: str | None, relation: str, limit: str) -> Problem:
    return Problem(1, "InvalidMedia", message, rule, value, limit, relation)


def _unsupported(message: str, rule: str, value: str, relation: str, limit: str) -> Problem:
    return Problem(3, "UnsupportedMedia", message, rule, value, limit, relation)


def _apart(value: float, limit: float, unit: str) -> tuple[str, str]:
    """``value`` and ``limit`` as text, ``value`` with enough digits to differ from ``limit``."""
    for places in (1, 3, 6):
        shown = f"{value:.{places}f}"
        if shown != f"{limit:.{places}f}":
            break
    return f"{shown} {unit}", f"{limit:g} {unit}"


def _ratio(ratio: Fraction) -> str:
    return f"{ratio.numerator}:{ratio.denominator}"


# --- checking ----------------------------------------------------------------------
_KIND_NAMES: Final = {"image": "image", "video": "video", "text": "subtitle"}


def _family(mime: str | None) -> str | None:
    return None if mime is None else mime.partition("/")[0]


def check(
    facts: MediaFacts, category: str | None, *, declared_type: str | None = None
) -> list[Problem]:
    """Every rule of ``limits_for(category)`` that ``facts`` breaks; empty means acceptable.

    An ``InvalidMedia`` problem (unreadable, or the wrong kind of media for the
    category, or bytes of another family than ``declared_type``) is returned alone; otherwise
    all broken rules are listed as ``UnsupportedMedia``, the size first. Facts that are
    ``None`` are unknown and not judged: facts from :func:`~bulkup.media.probe.sniff` alone pass
    every rule but the type.
    """
    limits = limits_for(category)
    type_problem = _check_type(facts, limits, declared_type)
    if type_problem is not None:
        return [type_problem]
    rules = {"image": limits.image, "video": limits.video, "text": limits.text}
    kind = rules[_family(facts.mime) or ""]
    if isinstance(kind, ImageLimits):
        return _check_image(facts, kind, category)
    if isinstance(kind, VideoLimits):
        return _check_video(facts, kind)
    assert kind is not None
    return _check_size(facts, kind.max_bytes, "Subtitle")


def _check_type(facts: MediaFacts, limits: Limits, declared_type: str | None) -> Problem | None:
    accepted = labels(limits.types)
    one_of = "is not one of" if len(limits.types) > 1 else "is not"
    if facts.mime is None:
        message = "media type unrecognized."
        return _invalid(message, "type", "unrecognized", one_of, accepted)
    family = _family(facts.mime) or ""
    kind = _KIND_NAMES.get(family, family)
    if facts.error is not None:
        return _invalid(f"Unsupported {kind} format: {facts.error}", "corrupt", facts.error, "", "")
    declared = _family(declared_type)
    if declared_type is not None and declared in _KIND_NAMES and declared != family:
        message = f"media_type {declared_type} does not match the {facts.mime} bytes"
        relation = "does not match the declared media_type"
        return _invalid(message, "type", label(facts.mime), relation, declared_type)
    if facts.mime not in limits.types:
        where = limits.category or "uploads without media_category"
        message = f"Unsupported {kind} format: {facts.mime} is not accepted for {where}"
        return _invalid(message, "type", label(facts.mime), one_of, accepted)
    return None


def _check_size(facts: MediaFacts, max_bytes: int, kind: str) -> list[Problem]:
    if facts.size <= max_bytes:
        return []
    shown = f"{facts.size / MIB:.1f}"
    if shown == f"{max_bytes / MIB:.1f}":  # a few bytes over: MiB would hide the difference
        value, limit = f"{facts.size} bytes", f"{max_bytes} bytes"
    else:
        value, limit = f"{shown} MiB", f"{max_bytes / MIB:g} MiB"
    message = f"{kind} file size must be <= {max_bytes} bytes, got {facts.size}"
    return [_unsupported(message, "size", value, "exceeds", limit)]


def _check_image(facts: MediaFacts, rules: ImageLimits, category: str | None) -> list[Problem]:
    if facts.animated and not rules.allow_animated:
        message = f"Animated images are not accepted for {category}; use a *_gif category"
        what = f"animated {label(facts.mime or '')}"
        return [_invalid(message, "type", what, "is not", "a still image")]
    problems = _check_size(facts, rules.max_bytes, "GIF" if facts.mime in GIF_TYPES else "Image")
    width, height, frames = facts.width or 0, facts.height or 0, facts.frames or 1
    if (rules.max_width and width > rules.max_width) or (
        rules.max_height and height > rules.max_height
    ):
        limit = f"{rules.max_width}x{rules.max_height}"
        message = f"Resolution {width}x{height} exceeds max of {limit}"
        problems.append(_unsupported(message, "dimensions", f"{width}x{height}", "exceed", limit))
    if rules.max_frames and frames > rules.max_frames:
        message = f"Frame count {frames} exceeds max of {rules.max_frames}"
        problems.append(
            _unsupported(message, "frames", str(frames), "exceed", str(rules.max_frames))
        )
    total = width * height * frames
    if rules.max_total_pixels and total > rules.max_total_pixels:
        message = f"Pixel count {total} exceeds max of {rules.max_total_pixels}"
        limit = f"{rules.max_total_pixels:,}"
        problems.append(_unsupported(message, "pixels", f"{total:,}", "exceeds", limit))
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
    shown = _scala(duration)
    if duration > rules.max_duration:
        message = f"Duration {shown} exceeds max duration of {_scala(rules.max_duration)}"
        value, limit = _apart(duration, rules.max_duration, "s")
        return [_unsupported(message, "duration", value, "exceeds", limit)]
    if duration < rules.min_duration:
        message = f"Duration {shown} is shorter than min duration of {_scala(rules.min_duration)}"
        value, limit = _apart(duration, rules.min_duration, "s")
        return [_unsupported(message, "duration", value, "is below", limit)]
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
        message = f"Pixel aspect ratio {sar[0]}:{sar[1]} is not 1:1"
        problems.append(
            _unsupported(message, "sample_aspect_ratio", f"{sar[0]}:{sar[1]}", "is not", "1:1")
        )
    if facts.interlaced:
        message = "Interlaced video is not supported; use progressive scan"
        problems.append(_unsupported(message, "interlaced", "interlaced", "is not", "progressive"))
    return problems


def _check_dimensions(width: int, height: int, rules: VideoLimits) -> list[Problem]:
    problems = []
    long_side, short_side = max(width, height), min(width, height)
    small = short_side < rules.min_side
    large = long_side > rules.max_long_side or short_side > rules.max_short_side
    size, least = f"{width}x{height}", f"{rules.min_side}x{rules.min_side}"
    most = f"{rules.max_long_side}x{rules.max_short_side}"
    if small or large:
        message = f"Invalid dimensions {size}: allowed {least}..{most}"
        if small and large:
            relation, limit = "are outside", f"{least}..{most} (either orientation)"
        elif small:
            relation, limit = "are below", least
        else:
            relation, limit = "exceed", f"{most} or {rules.max_short_side}x{rules.max_long_side}"
        problems.append(_unsupported(message, "dimensions", size, relation, limit))
    aspect = Fraction(width, height) if height else None
    if aspect is not None and not rules.min_aspect <= aspect <= rules.max_aspect:
        allowed = f"{_ratio(rules.min_aspect)}..{_ratio(rules.max_aspect)}"
        message = f"Invalid aspect ratio {size}: allowed {allowed}"
        shown = f"{float(aspect):.2f}:1" if aspect >= 1 else f"1:{float(1 / aspect):.2f}"
        value = f"{size} ({shown})"
        problems.append(_unsupported(message, "aspect_ratio", value, "is outside", allowed))
    return problems


def _check_video_stream(facts: MediaFacts, rules: VideoLimits) -> list[Problem]:
    problems = []
    if facts.video_codec is not None and facts.video_codec not in rules.video_codecs:
        message = f"Unsupported video codec {facts.video_codec}: use H.264"
        problems.append(_unsupported(message, "video_codec", facts.video_codec, "is not", "H.264"))
    if facts.pix_fmt is not None and facts.pix_fmt not in rules.pix_fmts:
        message = f"Unsupported pixel format {facts.pix_fmt}: use yuv420p"
        problems.append(_unsupported(message, "pixel_format", facts.pix_fmt, "is not", "yuv420p"))
    if facts.fps is not None and facts.fps > rules.max_fps + 0.01:
        message = f"Frame rate {facts.fps:.2f} fps exceeds max of {rules.max_fps:g}"
        value = f"{facts.fps:.2f}".rstrip("0").rstrip(".")
        limit = f"{rules.max_fps:g} fps"
        problems.append(_unsupported(message, "frame_rate", f"{value} fps", "exceeds", limit))
    if rules.closed_gop and facts.open_gop:
        message = "Unsupported GOP structure: open GOP; use closed GOPs"
        problems.append(_unsupported(message, "open_gop", "open", "is not", "closed"))
    return problems


def _check_audio(facts: MediaFacts, rules: VideoLimits) -> list[Problem]:
    if facts.audio_codec is None:
        return []  # audio is optional
    problems = []
    if facts.audio_codec not in rules.audio_codecs:
        message = f"Unsupported audio codec {facts.audio_codec}: use AAC-LC"
        problems.append(_unsupported(message, "audio_codec", facts.audio_codec, "is not", "AAC"))
    elif facts.audio_profile is not None and facts.audio_profile not in rules.audio_profiles:
        message = f"Unsupported AAC profile {facts.audio_profile}: use Low Complexity"
        problems.append(_unsupported(message, "audio_profile", facts.audio_profile, "is not", "LC"))
    channels = facts.audio_channels or 0
    if channels > rules.max_audio_channels:
        message = f"Audio has {channels} channels: only mono or stereo is supported"
        limit = str(rules.max_audio_channels)
        problems.append(_unsupported(message, "audio_channels", str(channels), "exceed", limit))
    return problems
