"""X's published v2 contract for metadata and subtitles requests (spec section 3).

Like :mod:`bulkup.emulator.contract`: each function takes a request's
:class:`Params`, returns validated values, or raises a 400 naming the field.

- ``POST /2/media/metadata``: ``{"id", "metadata"}``, ``id`` required; the
  ``metadata`` keys are the document's, those whose fields section 3 names are typed
  field by field, the others (``domain_restrictions``, ``geo_restrictions``, …) are
  taken as given, since the section does not say their shape.
- ``POST /2/media/subtitles``: ``{"id", "media_category", "subtitles": {"id",
  "language_code", "display_name"}}`` with ``TweetVideo``/``AmplifyVideo`` and a
  ``language_code`` of two upper-case letters.
- ``DELETE /2/media/subtitles``: ``{"id", "media_category", "language_code"}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from bulkup.core import spec
from bulkup.emulator import contract
from bulkup.emulator.contract import (
    boolean,
    json_object,
    json_object_field,
    known_fields,
    media_id,
    one_of,
    refuse,
    required,
    string,
)
from bulkup.emulator.operations import MetadataChange
from bulkup.emulator.params import Params

_LANGUAGE_CODE = re.compile(spec.V2_LANGUAGE_CODE_PATTERN.strip("^$"))


# --- metadata ---------------------------------------------------------------------------
def metadata(params: Params) -> tuple[str, MetadataChange]:
    """``POST /2/media/metadata``: the media id and what to set."""
    body = contract.json_object(params)
    contract.query(params)
    known_fields(params.names, ("id", "metadata"))
    required(body, "id")
    target = media_id(body["id"])
    given = json_object_field(body.get("metadata", {}), "metadata")
    known_fields(given, spec.V2_METADATA_KEYS, where="metadata.")
    fields = {name: _inner(given, name) for name in given if name in _FIELDS}
    alt_text = None
    if "alt_text" in fields:
        required(fields["alt_text"], "text", where="metadata.alt_text.")
        alt_text = string(fields["alt_text"]["text"], "metadata.alt_text.text")
    download = fields.get("allow_download_status", {}).get("allow_download")
    warning = fields.get("sensitive_media_warning")
    return target, MetadataChange(
        alt_text=alt_text,
        allow_download=download,
        sensitive_media_warning=(
            tuple(w for w in spec.SENSITIVE_MEDIA_WARNINGS if warning.get(w))
            if warning is not None
            else None
        ),
        given=dict(given),
    )


#: The metadata whose fields section 3 names, with a check for each field.
_FIELDS: Final[Mapping[str, Mapping[str, str]]] = {
    "alt_text": {"text": "string"},
    "allow_download_status": {"allow_download": "boolean"},
    "sensitive_media_warning": {name: "boolean" for name in spec.SENSITIVE_MEDIA_WARNINGS},
    "found_media_origin": {"id": "string", "provider": "string"},
    "content_expiration": {"timestamp_sec": "number"},
}


def _inner(given: Mapping[str, Any], name: str) -> dict[str, Any]:
    where = f"metadata.{name}"
    value = json_object_field(given[name], where)
    known_fields(value, _FIELDS[name], where=where + ".")
    for key, kind in _FIELDS[name].items():
        if key not in value:
            continue
        if kind == "boolean":
            boolean(value[key], f"{where}.{key}")
        elif kind == "string":
            string(value[key], f"{where}.{key}")
        elif isinstance(value[key], bool) or not isinstance(value[key], int | float):
            refuse(f"{where}.{key} must be a JSON number, got {value[key]!r}.")
    return value


# --- subtitles --------------------------------------------------------------------------
def language_code(value: object, name: str) -> str:
    if not isinstance(value, str) or not _LANGUAGE_CODE.fullmatch(value):
        refuse(f"{name} must match {spec.V2_LANGUAGE_CODE_PATTERN} (e.g. EN), got {value!r}.")
    return value


#: ``TweetVideo`` → ``tweet_video``, ``AmplifyVideo`` → ``amplify_video``.
_SUBTITLE_CATEGORIES: Final = {name: cat for cat, name in spec.SUBTITLE_VIDEO_CATEGORIES.items()}


def subtitle_category(value: object) -> str:
    """The video's category, from the v2 spelling (``TweetVideo``, ``AmplifyVideo``)."""
    spelling = one_of(value, "media_category", _SUBTITLE_CATEGORIES)
    return _SUBTITLE_CATEGORIES[spelling]


def subtitles_create(params: Params) -> tuple[str, str, dict[str, str]]:
    """``POST /2/media/subtitles``: video id, its category, and the subtitle entry."""
    body = json_object(params)
    contract.query(params)
    known_fields(params.names, ("id", "media_category", "subtitles"))
    required(body, "id", "media_category", "subtitles")
    video = media_id(body["id"])
    category = subtitle_category(body["media_category"])
    entry = json_object_field(body["subtitles"], "subtitles")
    known_fields(entry, ("id", "language_code", "display_name"), where="subtitles.")
    required(entry, "id", "language_code", "display_name", where="subtitles.")
    return (
        video,
        category,
        {
            "media_id": media_id(entry["id"], "subtitles.id"),
            "language_code": language_code(entry["language_code"], "subtitles.language_code"),
            "display_name": string(entry["display_name"], "subtitles.display_name"),
        },
    )


def subtitles_delete(params: Params) -> tuple[str, str, str]:
    """``DELETE /2/media/subtitles``: video id, its category, and the language."""
    body = json_object(params)
    contract.query(params)
    known_fields(params.names, ("id", "media_category", "language_code"))
    required(body, "id", "media_category", "language_code")
    return (
        media_id(body["id"]),
        subtitle_category(body["media_category"]),
        language_code(body["language_code"], "language_code"),
    )
