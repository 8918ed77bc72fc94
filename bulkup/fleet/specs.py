"""An item as the queue keeps it: every field of :class:`~bulkup.core.items.Item` in
JSON (generically, so a field added to ``Item`` flows through), with ``path``
absolute, plus where and what the file was at submit: ``host``, ``size``,
``mtime_ns``, ``ctime_ns``, ``inode``."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bulkup.core.items import Item, SubtitleSpec

__all__ = ["FILE_FIELDS", "file_key", "item_from_spec", "spec_of"]

#: What the spec records of the file besides the item's own fields.
FILE_FIELDS = ("host", "size", "mtime_ns", "ctime_ns", "inode")


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, SubtitleSpec):
        return value.as_json()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def spec_of(item: Item, host: str | None = None) -> dict[str, Any]:
    """The item's spec: its fields, the path made absolute, the file as it is now
    (``size`` 0 and the rest null when it cannot be read: the worker says why)."""
    path = os.path.abspath(item.path)
    item = dataclasses.replace(item, path=Path(path))
    spec = {f.name: _plain(getattr(item, f.name)) for f in dataclasses.fields(item)}
    for sub in spec.get("subtitles", []):
        sub["path"] = os.path.abspath(sub["path"])
    spec["host"] = host or socket.gethostname()
    try:
        st = os.stat(path)
    except OSError:
        spec.update(size=0, mtime_ns=None, ctime_ns=None, inode=None)
    else:
        spec.update(size=st.st_size, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns)
        spec["inode"] = st.st_ino
    return spec


def file_key(spec: Mapping[str, Any]) -> str:
    """What "the same file" means to ``submit``: host, path, size, mtime, inode."""
    parts = (spec["host"], spec["path"], spec["size"], spec["mtime_ns"], spec["inode"])
    return ":".join("" if p is None else str(p) for p in parts)


def _field_value(name: str, kind: str, value: Any) -> Any:
    if name == "subtitles":
        return tuple(
            SubtitleSpec(
                path=Path(s["path"]),
                language_code=s["language_code"],
                display_name=s.get("display_name"),
            )
            for s in value
        )
    if kind.startswith("Path"):
        return Path(value)
    if kind.startswith("tuple") and isinstance(value, list):
        return tuple(value)
    if kind.startswith("Mapping") and isinstance(value, dict):
        return dict(value)
    return value


def item_from_spec(spec: Mapping[str, Any] | str) -> Item:
    """The item a spec was made from (fields this version does not know are left out)."""
    data = json.loads(spec) if isinstance(spec, str) else spec
    values = {
        f.name: _field_value(f.name, str(f.type), data[f.name])
        for f in dataclasses.fields(Item)
        if f.name in data
    }
    return Item(**values)
