"""A checkpoint record's JSON form: its fields encoded, decoded and checked, in
every format version :mod:`bulkup.core.records` describes; journal lines."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bulkup.core import numbers, spec
from bulkup.core.items import Result, UploadParams
from bulkup.core.records import (
    CHECKPOINT_VERSION,
    COMPACT_VERSION,
    MAX_INDEX,
    OUTCOME_VERSION,
    READABLE_VERSIONS,
    CheckpointError,
    ItemRecord,
    ParamsDigest,
)

# --- format versions -----------------------------------------------------------------


def check_version(version: Any, path: Path) -> int:
    """``version`` if this bulkup reads it; else a CheckpointError naming the fix."""
    if version in READABLE_VERSIONS and is_int(version):
        return int(version)
    if is_int(version) and version > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version}, newer than this bulkup reads "
            f"(up to version {CHECKPOINT_VERSION}); it was left untouched: upgrade bulkup "
            "(pip install --upgrade bulkup) to resume it, or use another --checkpoint file"
        )
    raise CheckpointError(
        f"checkpoint {path} has format version {version!r:.40}; this bulkup reads versions "
        f"{', '.join(map(str, READABLE_VERSIONS))}: finish the run with the bulkup that wrote "
        "it, or use another --checkpoint file"
    )


def _params_v1(data: Any) -> UploadParams:
    """Version 1's untyped params, missing fields defaulted (a v1 record only ever
    lacks subtitles and post; anything else missing never matches a planned upload)."""
    if not isinstance(data, dict):
        raise ValueError(f"invalid field 'params': {data!r:.80}")
    strategy = data.get("strategy")
    warnings = data.get("sensitive_media_warning") or []
    owners = data.get("additional_owners") or []
    return UploadParams.from_json(
        {
            "media_type": data.get("media_type") or "",
            "media_category": data.get("media_category"),
            "chunk_size": data.get("chunk_size") or 0,
            "strategy": strategy if strategy == "simple" else "chunked",
            "metadata": {
                "alt_text": data.get("alt_text"),
                "sensitive_media_warning": warnings,
                "allow_download": data.get("allow_download"),
            },
            "subtitles": [],
            "post": None,
            "additional_owners": owners,
            "shared": bool(data.get("shared")),
        }
    )


# --- encoding ------------------------------------------------------------------------


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _is_ranges(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(r, list) and len(r) == 2 and all(map(is_int, r)) and 0 <= r[0] <= r[1] for r in v
    )


_SHA256 = re.compile(r"[0-9a-f]{64}")
_DIGEST = re.compile(r"[0-9a-f]{16}")


def is_sha256(v: Any) -> bool:
    """A SHA-256 in lower-case hex (checked at every acknowledged segment: one match)."""
    return isinstance(v, str) and _SHA256.fullmatch(v) is not None


def _is_index_key(k: Any) -> bool:
    return isinstance(k, str) and k.isdigit() and len(k) <= 6 and int(k) < MAX_INDEX


def _any(v: Any) -> bool:
    return True  # checked by the decoder


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "path": lambda v: isinstance(v, str),
    "size": _any,  # the numbers: by _NUMBERS, with their ranges
    "mtime_ns": _any,
    "ctime_ns": _optional(is_int),  # whole numbers: never NaN, any value is a time
    "inode": _optional(is_int),
    "params": _any,
    "media_id": _optional(lambda v: isinstance(v, str)),
    "media_key": _optional(lambda v: isinstance(v, str)),
    "upload_deadline": _any,
    "acked": _is_ranges,
    "segment_sha256": lambda v: (
        isinstance(v, dict) and all(_is_index_key(k) and is_sha256(h) for k, h in v.items())
    ),
    "finalized": lambda v: isinstance(v, bool),
    "processing": _optional(lambda v: isinstance(v, str)),
    "media_expires_at": _any,
    "result": _any,
    "attempts": _any,
    "partial_params": lambda v: isinstance(v, bool),
}
_REQUIRED = ("path", "size", "mtime_ns", "params")


def _unix_time(name: str, value: Any) -> float | None:
    return None if value is None else numbers.unix_time(name, value)


#: The record's numbers, each read within its range (:mod:`bulkup.core.numbers`).
_NUMBERS: dict[str, Callable[[str, Any], Any]] = {
    "size": lambda n, v: numbers.whole(n, v, 0, numbers.MAX_INT64, "bytes"),
    "mtime_ns": lambda n, v: numbers.whole(
        n, v, -numbers.MAX_INT64 - 1, numbers.MAX_INT64, "nanoseconds"
    ),
    "upload_deadline": _unix_time,
    "media_expires_at": _unix_time,
    "attempts": lambda n, v: numbers.whole(n, v, 0, numbers.MAX_INT32, "attempts"),
}
#: The numbers of a report line (``result``), read within their ranges when present.
_RESULT_NUMBERS: dict[str, Callable[[str, Any], Any]] = {
    "size": lambda n, v: numbers.whole(n, v, 0, numbers.MAX_INT64, "bytes"),
    "attempts": _NUMBERS["attempts"],
    "elapsed_s": lambda n, v: numbers.in_range(n, v, 0, numbers.MAX_INT32, "seconds"),
}
_ERROR_NUMBERS: dict[str, Callable[[str, Any], Any]] = {
    "http_status": lambda n, v: numbers.whole(n, v, 0, 999, "HTTP status"),
    "api_code": lambda n, v: numbers.whole(n, v, 0, numbers.MAX_INT32, "API code"),
}


def _check_numbers(data: Any, checks: dict[str, Callable[[str, Any], Any]], where: str) -> None:
    """Raise OutOfRange for the first number of ``data`` (a JSON object) out of range."""
    if not isinstance(data, dict):
        return  # its decoder names the wrong type
    for name, check in checks.items():
        if data.get(name) is not None:
            check(where + name, data[name])


def _check_params(value: Any, version: int) -> None:
    """``chunk_size`` within what the API accepts (version 1 wrote 0 for none)."""
    if isinstance(value, dict) and "chunk_size" in value:
        chunk = value["chunk_size"]
        if version >= 2 or chunk not in (0, None):
            numbers.whole("chunk_size", chunk, 1, spec.MAX_CHUNK_BYTES, "bytes")


def to_ranges(indices: Iterable[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for i in sorted(set(indices)):
        if ranges and i == ranges[-1][1] + 1:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])
    return ranges


def decode_field(name: str, value: Any, version: int = CHECKPOINT_VERSION) -> Any:
    """A field's value from its JSON form; ValueError when it is not valid (a number out
    of its range: ``invalid field 'upload_deadline': nan is not a Unix time …``)."""
    if name not in _CHECKS or not _CHECKS[name](value):
        raise ValueError(f"invalid field {name!r}: {value!r:.80}")
    try:
        return _decode(name, value, version)
    except numbers.OutOfRange as exc:
        detail = exc.detail if exc.name == name else str(exc)
        raise ValueError(f"invalid field {name!r}: {detail}") from None


def _decode(name: str, value: Any, version: int) -> Any:
    if name in _NUMBERS:
        return _NUMBERS[name](name, value)
    if name == "segment_sha256":
        return {int(k): h for k, h in value.items()}
    if name == "acked":
        if any(end >= MAX_INDEX for _, end in value):
            raise ValueError(f"segment index out of range in {value!r:.80}")
        return {i for start, end in value for i in range(start, end + 1)}
    if name == "params":
        if value is None and version >= OUTCOME_VERSION:
            return None
        if isinstance(value, str) and version >= COMPACT_VERSION:
            if not _DIGEST.fullmatch(value):
                raise ValueError(f"invalid field 'params': {value!r:.80}")
            return ParamsDigest(value)
        _check_params(value, version)
        return UploadParams.from_json(value) if version >= 2 else _params_v1(value)
    if name == "result":
        if value is None:
            return None
        _check_numbers(value, _RESULT_NUMBERS, "")
        _check_numbers(
            value.get("error") if isinstance(value, dict) else None, _ERROR_NUMBERS, "error."
        )
        return Result.from_json(value)
    return value


def check_field(name: str, value: Any) -> Any:
    """A field's typed value as a replay of its JSON would give it back; ValueError as
    :func:`decode_field` when that would refuse it. Checked on the typed value itself,
    without encoding and decoding it (``acked`` takes any iterable of indices; ``params``
    and ``result`` their typed values or their JSON form)."""
    if name == "acked":
        indices = set(value)
        if not all(is_int(i) and 0 <= i < MAX_INDEX for i in indices):
            raise ValueError(f"invalid field 'acked': {sorted(indices, key=str)!r:.80}")
        return indices
    if name == "segment_sha256" and isinstance(value, dict):
        if not all(is_int(i) and 0 <= i < MAX_INDEX and is_sha256(h) for i, h in value.items()):
            raise ValueError(f"invalid field 'segment_sha256': {value!r:.80}")
        return dict(value)
    if name == "params" and isinstance(value, UploadParams):
        return _checked_params(value)
    if name == "params" and isinstance(value, ParamsDigest):
        return decode_field(name, value.hex)
    if name == "result" and isinstance(value, Result):
        return _checked_result(value)
    return decode_field(name, value)  # a plain value: the same as its JSON form


def _checked_params(params: UploadParams) -> UploadParams:
    try:
        numbers.whole("chunk_size", params.chunk_size, 1, spec.MAX_CHUNK_BYTES, "bytes")
    except numbers.OutOfRange as exc:
        raise ValueError(f"invalid field 'params': {exc}") from None
    if params.strategy not in ("simple", "chunked"):
        raise ValueError(f"invalid field 'params': strategy {params.strategy!r:.40}")
    return params


def _checked_result(result: Result) -> Result:
    """``result`` as ``Result.from_json(result.as_json())`` gives it back."""
    error = result.error
    try:
        _check_numbers(
            {"size": result.size, "attempts": result.attempts, "elapsed_s": result.elapsed_s},
            _RESULT_NUMBERS,
            "",
        )
        if error is not None:
            codes = {"http_status": error.http_status, "api_code": error.api_code}
            _check_numbers(codes, _ERROR_NUMBERS, "error.")
    except numbers.OutOfRange as exc:
        raise ValueError(f"invalid field 'result': {exc}") from None
    if result.status not in ("succeeded", "failed", "skipped"):
        raise ValueError(f"invalid field 'result': status {result.status!r:.40}")
    moments = (result.expires_at, result.retry_after)
    if any(moment is not None and moment.tzinfo is None for moment in moments):
        raise ValueError("invalid field 'result': a time without a zone")
    elapsed = round(result.elapsed_s, 3)  # as its JSON keeps it
    return result if elapsed == result.elapsed_s else replace(result, elapsed_s=elapsed)


def check_record(record: ItemRecord) -> ItemRecord:
    """A copy of ``record`` as a replay of its JSON would give it back; ValueError naming
    the item and the first field a replay would refuse."""
    try:
        values = {name: check_field(name, getattr(record, name)) for name in _CHECKS}
    except ValueError as exc:
        raise ValueError(f"item {record.id!r}: {exc}") from None
    if not isinstance(record.id, str):
        raise ValueError(f"invalid item {record.id!r:.80}")
    return ItemRecord(id=record.id, **values)


def decode_fields(item_id: str, fields: Any, version: int = CHECKPOINT_VERSION) -> dict[str, Any]:
    """Fields of ``item_id``'s record (all of them, or a journal's update) from their JSON
    form; ValueError naming the item and the first invalid field."""
    if not isinstance(fields, dict):
        raise ValueError(f"item {item_id!r}: invalid fields {fields!r:.80}")
    try:
        return {name: decode_field(name, value, version) for name, value in fields.items()}
    except ValueError as exc:
        raise ValueError(f"item {item_id!r}: {exc}") from None


def encode_field(name: str, value: Any) -> Any:
    """A field's JSON form (typed values, or their JSON form already)."""
    if name == "acked":
        return to_ranges(value)
    if name == "segment_sha256":
        return {str(i): h for i, h in sorted(value.items())}
    if isinstance(value, UploadParams | Result | ParamsDigest):
        return value.as_json()
    return value


def record_to_json(record: ItemRecord) -> dict[str, Any]:
    result, params = record.result, record.params
    return {
        "params": params.as_json() if params is not None else None,
        "result": result.as_json() if result is not None else None,
        **record_fields(record),
    }


def record_fields(record: ItemRecord) -> dict[str, Any]:
    """The record's JSON but ``params`` and ``result``: what changes during an upload (the
    other two are frozen values, set whole, whose JSON a snapshot keeps between changes)."""
    data = {
        "path": record.path,
        "size": record.size,
        "mtime_ns": record.mtime_ns,
        "media_id": record.media_id,
        "media_key": record.media_key,
        "upload_deadline": record.upload_deadline,
        "acked": to_ranges(record.acked),
        "finalized": record.finalized,
        "processing": record.processing,
        "media_expires_at": record.media_expires_at,
        "attempts": record.attempts,
    }
    if record.segment_sha256:
        data["segment_sha256"] = encode_field("segment_sha256", record.segment_sha256)
    if record.ctime_ns is not None:
        data["ctime_ns"] = record.ctime_ns
    if record.inode is not None:
        data["inode"] = record.inode
    if record.partial_params:  # written only where it says something
        data["partial_params"] = True
    return data


def record_from_json(item_id: Any, data: Any, version: int = CHECKPOINT_VERSION) -> ItemRecord:
    if not isinstance(item_id, str) or not isinstance(data, dict):
        raise ValueError(f"invalid item {item_id!r:.80}")
    if version >= COMPACT_VERSION and is_compact(data):  # "file" is no field of a whole one
        return record_from_compact(item_id, data)
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        raise ValueError(f"item {item_id!r} lacks {', '.join(missing)}")
    values = decode_fields(item_id, data, version)
    if version < 2:
        values["partial_params"] = True
    return ItemRecord(id=item_id, **values)


def copy(record: ItemRecord) -> ItemRecord:
    """A copy whose changes stay out of ``record`` (params and result are frozen)."""
    return replace(record, acked=set(record.acked), segment_sha256=dict(record.segment_sha256))


#: One encoder for every journal line (``json.dumps`` with options builds one per call).
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def journal_line(event: dict[str, Any]) -> bytes:
    return (_ENCODE(event) + "\n").encode()


def json_text(value: Any) -> str:
    """``value`` as compact JSON, as in journal lines and snapshots."""
    return _ENCODE(value)


def json_object(texts: dict[str, str]) -> str:
    """The JSON object of values that are JSON already, as :func:`json_text` writes it.

    The keys are names that need no escaping: event keys, and field names (checked by
    :func:`decode_field` first)."""
    return "{" + ",".join(f'"{name}":{text}' for name, text in texts.items()) + "}"


# --- compact records (format version 5) -----------------------------------------------
#: Fields of a compact record written only when they differ from the report line's.
_FROM_LINE = (
    ("path", "path"),
    ("media_id", "media_id_string"),
    ("media_key", "media_key"),
    ("attempts", "attempts"),
)


def compact_json(record: ItemRecord) -> dict[str, Any] | None:
    """The record's compact JSON (see :mod:`bulkup.core.records`, version 5), or None
    when it still has an upload to continue (or lacks a line): kept whole then."""
    result, params = record.result, record.params
    if result is None or record.partial_params:
        return None
    if not (result.ok or params is None or record.media_id is None):
        return None
    line = result.as_json()
    if line.get("id") == record.id:
        del line["id"]  # the item's key says it
    digest = ParamsDigest.of(params) if isinstance(params, UploadParams) else params
    data: dict[str, Any] = {
        "result": line,
        "file": [record.size, record.mtime_ns, record.ctime_ns, record.inode],
        "params": digest.hex if digest is not None else None,
        "media_expires_at": record.media_expires_at,
    }
    for name, in_line in _FROM_LINE:
        if getattr(record, name) != getattr(result, in_line):
            data[name] = getattr(record, name)
    if not record.finalized:
        data["finalized"] = False
    if record.processing is not None:
        data["processing"] = record.processing
    return data


def is_compact(data: Any) -> bool:
    """Whether a record's JSON is the compact form (it has ``file``)."""
    return isinstance(data, dict) and "file" in data


def file_key(data: dict[str, Any]) -> int | None:
    """The (inode, size, mtime) of a compact record that succeeded, as one number (for
    finding the same file under another id); None for another record."""
    result, file = data.get("result"), data.get("file")
    if not isinstance(result, dict) or result.get("status") != "succeeded":
        return None
    if not isinstance(file, list) or len(file) != 4 or file[3] is None:
        return None
    return hash((file[3], file[0], file[1]))


def check_compact(item_id: str, data: Any) -> None:
    """What opening a checkpoint checks of a compact record, fast (each of 100,000 items):
    every field but the line as :func:`record_from_compact` reads it, and the line's
    status. The rest of the line is read when the item is met (:func:`record_from_compact`)."""
    file = data.get("file") if isinstance(data, dict) else None
    if not isinstance(file, list) or len(file) != 4:
        raise ValueError(f"item {item_id!r}: invalid field 'file': {file!r:.80}")
    if _plain(file, data):
        return
    fields = dict(zip(("size", "mtime_ns", "ctime_ns", "inode"), file, strict=True))
    fields |= {k: v for k, v in data.items() if k not in ("file", "result")}
    decode_fields(item_id, fields)
    line = data.get("result")
    if not isinstance(line, dict) or line.get("status") not in ("succeeded", "failed", "skipped"):
        raise ValueError(f"item {item_id!r}: invalid field 'result': {line!r:.80}")


def _plain(file: list[Any], data: dict[str, Any]) -> bool:
    """Whether a compact record is of the common shape, each value plainly in its range
    (what :func:`check_compact` then accepts, checked at a glance); False sends it to
    the full check, which names what is wrong if anything is."""
    size, mtime_ns, ctime_ns, inode = file
    if not (
        type(size) is int
        and 0 <= size <= numbers.MAX_INT64
        and type(mtime_ns) is int
        and -numbers.MAX_INT64 - 1 <= mtime_ns <= numbers.MAX_INT64
        and (ctime_ns is None or type(ctime_ns) is int)
        and (inode is None or type(inode) is int)
    ):
        return False
    line = data.get("result")
    if type(line) is not dict or line.get("status") not in ("succeeded", "failed", "skipped"):
        return False
    for name, value in data.items():
        if name == "params":
            ok = value is None or (type(value) is str and _DIGEST.fullmatch(value) is not None)
        elif name == "media_expires_at":
            ok = value is None or (
                type(value) in (int, float) and 0 <= value <= numbers.MAX_UNIX_TIME
            )
        elif name in ("processing", "media_id", "media_key"):
            ok = value is None or type(value) is str
        elif name == "finalized":
            ok = type(value) is bool
        else:
            ok = name in ("file", "result")
        if not ok:
            return False
    return True


def record_from_compact(item_id: str, data: Any) -> ItemRecord:
    """The record of a compact JSON form; ValueError naming the item and the field. Any
    field of a whole record may be there too (read as in one), taking precedence."""
    file = data.get("file") if isinstance(data, dict) else None
    if not isinstance(file, list) or len(file) != 4:
        raise ValueError(f"item {item_id!r}: invalid field 'file': {file!r:.80}")
    line = data.get("result")
    if isinstance(line, dict) and "id" not in line:
        line = {"id": item_id, **line}
    fields = dict(zip(("size", "mtime_ns", "ctime_ns", "inode"), file, strict=True))
    fields |= {"finalized": True, "params": None, "media_expires_at": None}
    fields |= {k: v for k, v in data.items() if k not in ("file", "result")}
    fields["result"] = line  # last: a bad number elsewhere is named first
    values = decode_fields(item_id, fields)
    result: Result | None = values["result"]
    if result is None:
        raise ValueError(f"item {item_id!r}: invalid field 'result': a finished record needs it")
    for name, in_line in _FROM_LINE:
        values.setdefault(name, getattr(result, in_line))
    values["path"] = values["path"] or ""
    return ItemRecord(id=item_id, **values)


def snapshot_json(record: ItemRecord) -> dict[str, Any]:
    """The record's JSON as a snapshot of format version 5 holds it: compact when it
    has nothing left to continue, else whole."""
    data = compact_json(record)
    return data if data is not None else record_to_json(record)
