"""Numbers as people read them: binary byte units, durations, plurals."""

from __future__ import annotations


def binary_units(count: float) -> str:
    """``512 B``, ``1.5 KiB``, ``12.3 MiB``: binary units, one decimal."""
    if count < 1024:
        return f"{int(count)} B"
    units = ("KiB", "MiB", "GiB", "TiB")
    step = 0
    count /= 1024
    while count >= 1024 and step < len(units) - 1:
        count /= 1024
        step += 1
    return f"{count:.1f} {units[step]}"


def human_duration(seconds: float) -> str:
    """``45 s``, ``23 min``, ``2 h 5 min``, ``3 d 4 h``: the two largest units, rounded
    down (a time left is at least that)."""
    left = max(0, int(seconds))
    if left < 60:
        return f"{left} s"
    minutes, hours = left // 60, left // 3600
    if hours == 0:
        return f"{minutes} min"
    if hours < 24:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h" if hours % 24 else f"{hours // 24} d"


def plural(count: int, word: str) -> str:
    """``1 item``, ``2 items``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
