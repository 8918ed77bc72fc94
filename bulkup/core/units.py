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
    """``45 s``, ``3 min 20 s``, ``2 h 5 min``, ``3 d 4 h``: two units at most."""
    whole = max(0, round(seconds))
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def plural(count: int, word: str) -> str:
    """``1 item``, ``2 items``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
