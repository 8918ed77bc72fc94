"""X's published v2 contract for media requests (spec section 3), checked before acting.

The v2 handlers call these functions on a request's :class:`Params`; each returns
the validated values or raises a 400 :class:`ApiError` naming the field, as the real
API refuses what its OpenAPI document refuses: bodies in another encoding than the
endpoint takes, fields it does not define (``additionalProperties: false``), values
of the wrong JSON type or outside their enumeration, ids not matching
``^[0-9]{1,19}$``, query parameters the endpoint does not take. v1.1 has no such
contract and reads its parameters leniently (:mod:`bulkup.emulator.v1`).

Metadata and subtitles bodies are checked in :mod:`bulkup.emulator.contract_extras`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, NoReturn

from bulkup.core import spec
from bulkup.emulator import errors
from bulkup.emulator.errors import ApiError
from bulkup.emulator.params import Params

#: X's words for a body in another encoding than JSON.
NOT_JSON: Final = "Requests with bodies must have content-type of application/json."
NOT_JSON_OR_MULTIPART: Final = (
    "Requests with bodies must have content-type of application/json or multipart/form-data."
)
NOT_AN_OBJECT: Final = "Request body must be a JSON object."
MEDIA_ID_PATTERN: Final = "^[0-9]{1,19}$"
_MEDIA_ID = re.compile(r"[0-9]{1,19}")
_DIGITS = re.compile(r"[0-9]+")

INITIALIZE_FIELDS: Final = (
    "total_bytes",
    "media_type",
    "media_category",
    "additional_owners",
    "shared",
)
APPEND_FIELDS: Final = ("segment_index", "media")
ONE_SHOT_FIELDS: Final = ("media", "media_category", "additional_owners")
STATUS_QUERY: Final = ("media_id", "command")


def refuse(detail: str) -> NoReturn:
    raise ApiError(errors.BAD_REQUEST, detail)


# --- shapes ----------------------------------------------------------------------------
def query(params: Params, allowed: Iterable[str] = ()) -> None:
    """Refuse query parameters the endpoint does not define (``oauth_*`` aside)."""
    allowed = tuple(allowed)
    for name in params.query:
        if name not in allowed and not name.startswith("oauth_"):
            known = f"one of [{', '.join(allowed)}]" if allowed else "allowed on this endpoint"
            refuse(f"The query parameter [{name}] is not {known}.")


def json_object(params: Params) -> dict[str, Any]:
    """The JSON object body; refuse any other encoding, an empty body and a non-object."""
    if params.source != "json":
        refuse(NOT_JSON)
    if params.json is None or params.json_empty:
        refuse(NOT_AN_OBJECT)
    return params.json


def known_fields(names: Iterable[str], allowed: Iterable[str], where: str = "") -> None:
    """Refuse a field the contract does not define, or one given twice, naming it."""
    allowed = tuple(allowed)
    seen: set[str] = set()
    for name in names:
        if name not in allowed:
            refuse(
                f"Unknown field '{where}{name}' in the request body; "
                f"allowed: {', '.join(where + a for a in allowed)}."
            )
        if name in seen:
            refuse(f"The field '{where}{name}' is given more than once.")
        seen.add(name)


def required(body: Mapping[str, Any], *names: str, where: str = "") -> None:
    for name in names:
        if name not in body:
            refuse(f"Missing required field: {where}{name}.")


# --- values ------------------------------------------------------------------------------
def json_int(value: object, name: str) -> int:
    """A JSON integer: not a string, a bool or a float."""
    if isinstance(value, bool) or not isinstance(value, int):
        refuse(f"{name} must be a JSON integer, got {value!r}.")
    return value


def integer(value: object, name: str, low: int, high: int) -> int:
    """A JSON integer within ``low..high``."""
    value = json_int(value, name)
    if not low <= value <= high:
        refuse(f"{name} must be between {low} and {high}, got {value}.")
    return value


def boolean(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        refuse(f"{name} must be a JSON boolean (true or false), got {value!r}.")
    return value


def string(value: object, name: str) -> str:
    if not isinstance(value, str):
        refuse(f"{name} must be a string, got {value!r}.")
    return value


def one_of(value: object, name: str, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        refuse(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
    return value


def json_object_field(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        refuse(f"{name} must be a JSON object, got {value!r}.")
    return value


def media_id(value: object, name: str = "id") -> str:
    """A media id as the contract spells it: a string of 1 to 19 digits."""
    if not isinstance(value, str) or not _MEDIA_ID.fullmatch(value):
        refuse(f"{name} must be a string matching {MEDIA_ID_PATTERN}, got {value!r}.")
    return value


def owners_string(value: object) -> tuple[str, ...]:
    """One-shot ``additional_owners``: a comma-separated string of user ids."""
    text = string(value, "additional_owners")
    owners = tuple(part.strip() for part in text.split(","))
    if not all(_MEDIA_ID.fullmatch(o) for o in owners):
        refuse(f"additional_owners must be comma-separated user ids, got {text!r}.")
    return owners


def owners_array(value: object) -> tuple[str, ...]:
    """initialize ``additional_owners``: a JSON array of id strings."""
    if not isinstance(value, list) or not all(
        isinstance(o, str) and _MEDIA_ID.fullmatch(o) for o in value
    ):
        refuse(
            "additional_owners must be a JSON array of strings matching "
            f"{MEDIA_ID_PATTERN}, got {value!r}."
        )
    return tuple(value)


# --- endpoints -----------------------------------------------------------------------------
def initialize(params: Params) -> dict[str, Any]:
    """``POST /2/media/upload/initialize``: the validated body."""
    body = json_object(params)
    query(params)
    known_fields(params.names, INITIALIZE_FIELDS)
    required(body, "total_bytes", "media_type")
    fields: dict[str, Any] = {
        "total_bytes": integer(body["total_bytes"], "total_bytes", 0, spec.MAX_TOTAL_BYTES_V2),
        "media_type": one_of(body["media_type"], "media_type", sorted(spec.V2_MEDIA_TYPES)),
        "media_category": None,
        "additional_owners": (),
        "shared": False,
    }
    if "media_category" in body:
        fields["media_category"] = one_of(body["media_category"], "media_category", spec.CATEGORIES)
    if "additional_owners" in body:
        fields["additional_owners"] = owners_array(body["additional_owners"])
    if "shared" in body:
        fields["shared"] = boolean(body["shared"], "shared")
    return fields


def _media_body(params: Params, allowed: Iterable[str]) -> None:
    """A multipart or JSON body with only ``allowed`` fields (media included)."""
    if params.source not in ("multipart", "json"):
        refuse(NOT_JSON_OR_MULTIPART)
    if params.source == "json":
        json_object(params)
    query(params)
    known_fields(params.names, allowed)


def append(params: Params) -> int:
    """``POST /2/media/upload/{id}/append``: the segment index.

    Its range (0..999) is the store's to check, with the API's observed message.
    """
    _media_body(params, APPEND_FIELDS)
    values: Mapping[str, Any] = params.json if params.json is not None else params.form
    required(values, "segment_index")
    if params.media_field is None:
        refuse("Missing required field: media.")
    raw = values["segment_index"]
    if params.source == "json":
        return json_int(raw, "segment_index")
    if not _DIGITS.fullmatch(raw):
        refuse(f"segment_index must be an integer, got {raw!r}.")
    return int(raw)


def finalize(params: Params) -> None:
    """``POST /2/media/upload/{id}/finalize``: no body at all, or a JSON object."""
    query(params)
    if params.source != "none":
        json_object(params)


def status(params: Params) -> str:
    """``GET /2/media/upload``: the media id of the query."""
    query(params, STATUS_QUERY)
    command = params.query.get("command")
    if command is not None and command != "STATUS":
        refuse("command must be STATUS when given.")
    if "media_id" not in params.query:
        refuse("Missing required parameter: media_id.")
    return media_id(params.query["media_id"], "media_id")


def one_shot(params: Params) -> tuple[str, tuple[str, ...]]:
    """``POST /2/media/upload``: the category and the additional owners."""
    _media_body(params, ONE_SHOT_FIELDS)
    values: Mapping[str, Any] = params.json if params.json is not None else params.form
    if params.media_field is None:
        refuse("Missing required field: media.")
    required(values, "media_category")
    category = one_of(values["media_category"], "media_category", spec.V2_ONE_SHOT_CATEGORIES)
    owners: tuple[str, ...] = ()
    if "additional_owners" in values:
        owners = owners_string(values["additional_owners"])
    return category, owners
