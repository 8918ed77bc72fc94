"""Preflight: judging a file before any byte goes on the wire.

:func:`preflight` runs on one :class:`~bulkup.core.items.Item` the same sniff, probe and check
that the emulator runs at FINALIZE (:mod:`bulkup.media.probe`), so a file that passes here is not
refused for its bytes there, plus what only the client can see:

* the type comes from the bytes; an extension (or a declared ``media_type``) that names
  another type gives a warning, never a failure: ``photo.jpg: the bytes are PNG; uploading
  as image/png``;
* the category is the item's, else ``default_category``, else chosen by type
  (:func:`category_for`);
* alt text is for images and GIFs only, at most 1000 characters.

The report's message for an entry of a manifest starts with its place
(``photos.jsonl:12: size 6.2 MiB exceeds 5 MiB for tweet_image``; :func:`placed`).

Every violation prints as one line: what, the value, the limit, the category
(``duration 150.2 s exceeds 140 s for tweet_video``; see :meth:`bulkup.media.probe.Problem.line`).

It is synchronous and reads headers and container metadata only: a 500 MB video takes
milliseconds. Async callers run it in a thread (``await anyio.to_thread.run_sync(...)``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Final

from bulkup.core.items import ErrorInfo, Item, Result
from bulkup.core.spec import MAX_ALT_TEXT_CHARS, normalize_category
from bulkup.media.limits import label
from bulkup.media.probe import MediaFacts, Problem, check, probe

__all__ = [
    "Preflight",
    "category_for",
    "placed",
    "preflight",
    "preflight_result",
    "violation_error",
]

_EXTENSIONS: Final = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".jfif": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".qt": "video/quicktime",
    ".webm": "video/webm",
    ".srt": "text/srt",
    ".vtt": "text/vtt",
}
# MP4 and QuickTime are one box format: either extension fits either brand.
_ISO_BMFF: Final = frozenset({"video/mp4", "video/quicktime"})
_BY_FAMILY: Final = {"image": "tweet_image", "video": "tweet_video", "text": "subtitles"}
#: The place of an item that came from a manifest's entry: ``photos.jsonl:12``.
_LINE_PLACE: Final = re.compile(r".+:[0-9]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Preflight:
    """What preflight found about one file.

    ``media_type`` is the type of the bytes (``None``: unrecognized); ``category`` the one
    the file was judged for (``None``: an upload without ``media_category``). Violations
    from the media rules are the :func:`~bulkup.media.probe.check` problems the endpoint would
    return; alt text violations are problems with code 0, name ``InvalidRequest`` (the
    metadata endpoint refuses them with HTTP 400).
    """

    media_type: str | None
    category: str | None
    facts: MediaFacts
    violations: tuple[Problem, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def lines(self) -> tuple[str, ...]:
        """One line per violation: ``duration 150.2 s exceeds 140 s for tweet_video``."""
        return tuple(problem.line(self.category) for problem in self.violations)


def category_for(facts: MediaFacts) -> str | None:
    """The category a file goes to when nobody names one.

    Still images ``tweet_image``, animated GIFs ``tweet_gif``, video ``tweet_video``,
    SRT/VTT ``subtitles``; ``None`` for bytes of no known type. (An animated WebP goes to
    ``tweet_image``, which refuses it: the API takes animation as GIF only.)
    """
    if facts.mime == "image/gif" and facts.animated:
        return "tweet_gif"
    family = None if facts.mime is None else facts.mime.partition("/")[0]
    return _BY_FAMILY.get(family or "")


def preflight(item: Item, *, default_category: str | None = None) -> Preflight:
    """Judge ``item`` as the upload endpoint would, without network; never raises for media.

    Raises :class:`ValueError` for a category name that is not one (any case style of a
    known category is accepted).
    """
    facts = probe(item.path)
    named = item.media_category or default_category
    category = normalize_category(named) if named else category_for(facts)
    if facts.mime is None and facts.error is not None:  # missing or unreadable file
        violations = [Problem(1, "InvalidMedia", facts.error, "corrupt", facts.error, None, "")]
    else:
        violations = check(facts, category, declared_type=item.media_type)
    violations += _alt_text_problems(item.alt_text, facts)
    return Preflight(
        media_type=facts.mime,
        category=category,
        facts=facts,
        violations=tuple(violations),
        warnings=_type_warnings(item, facts.mime),
    )


def _agree(named: str, actual: str) -> bool:
    return named == actual or {named, actual} <= _ISO_BMFF


def _type_warnings(item: Item, mime: str | None) -> tuple[str, ...]:
    """A warning when the declared type, or else the extension, names other bytes."""
    if mime is None:
        return ()
    name = item.path.name
    if item.media_type is not None:
        same_family = item.media_type.partition("/")[0] == mime.partition("/")[0]
        if same_family and not _agree(item.media_type, mime):  # other families: a violation
            return (f"{name}: the bytes are {label(mime)}, not the declared {item.media_type}",)
        return ()
    expected = _EXTENSIONS.get(os.path.splitext(name)[1].lower())
    if expected is None or _agree(expected, mime):
        return ()
    return (f"{name}: the bytes are {label(mime)}; uploading as {mime}",)


def _alt_text_problems(text: str | None, facts: MediaFacts) -> list[Problem]:
    if not text:
        return []
    problems = []
    if facts.mime is not None and not facts.mime.startswith("image/"):
        message = "Alt text can be set on images and GIFs only."
        problems.append(
            Problem(
                0, "InvalidRequest", message, "alt_text", None, "images and GIFs", "is only for"
            )
        )
    if len(text) > MAX_ALT_TEXT_CHARS:
        message = f"alt_text.text is longer than {MAX_ALT_TEXT_CHARS} characters."
        value, limit = f"{len(text)} characters", f"{MAX_ALT_TEXT_CHARS} characters"
        problems.append(Problem(0, "InvalidRequest", message, "alt_text", value, limit))
    return problems


def violation_error(pre: Preflight, item: Item | None = None) -> ErrorInfo:
    """The report's ``error`` for a failed preflight: kind ``preflight``, lines joined by
    ``; ``, after the manifest line ``item`` came from (see :func:`placed`)."""
    message = "; ".join(pre.lines)
    return ErrorInfo(kind="preflight", message=message if item is None else placed(item, message))


def placed(item: Item, message: str) -> str:
    """``message`` after the manifest line the item came from (``photos.jsonl:12: …``),
    unless it starts with it already. Items of a folder or named alone: as it is."""
    place = item.source
    if not _LINE_PLACE.fullmatch(place) or message.startswith(f"{place}: "):
        return message
    return f"{place}: {message}"


def preflight_result(item: Item, pre: Preflight, *, elapsed_s: float = 0.0) -> Result:
    """The report line for an item judged by preflight alone (``bulkup validate``)."""
    return Result(
        id=item.id,
        path=str(item.path),
        status="succeeded" if pre.ok else "failed",
        media_type=pre.media_type,
        media_category=pre.category,
        size=pre.facts.size,
        elapsed_s=elapsed_s,
        error=None if pre.ok else violation_error(pre, item),
        account=item.account,
    )
