"""Numbers from outside, checked before use: the server's answers.

JSON lets a server say ``NaN``, ``Infinity``, ``1e300`` or ``-5`` where a count of
seconds belongs. Used as they are, such values crash a run (a time past the year 9999
cannot be printed) or spin it (a poll every ``NaN`` seconds is a poll at once). Every
number read from outside goes through this module first: :func:`in_range` and
:func:`whole` check a JSON value and raise :class:`OutOfRange` naming the field and the
value, which the dialects make the item's :class:`~bulkup.errors.ProtocolError`.

The ranges, and why (both ends included)::

    answers
      expires_after_secs        0 … 30 days      X says 3599 s (v1.1 INIT), 1,295,999 s
                                                 (v2 INIT), 86,400 s (media); it counts
                                                 down to 0 between STATUS polls
      check_after_secs          0 … 1 day        a hint: the session then keeps polls
                                                 between 1 and 60 s apart
      progress_percent          0 … 100          the document's range; refused, not
                                                 clamped: a server past 100 % is not X
      size                      0 … 16 GiB       the largest upload X accepts
      image w, h                0 … 2**31 - 1    pixels
      media id                  1 to 19 digits   X's MediaId, ^[0-9]{1,19}$ (a JSON
                                                 integer below 10**19 for v1.1's media_id)
      error codes               0 … 2**31 - 1    outside, left out: the error still
                                                 reports its message
"""

from __future__ import annotations

import math
import re
from typing import Final

from bulkup.core import spec

DAY_SECS: Final = 86_400
MAX_EXPIRES_AFTER_SECS: Final = 30 * DAY_SECS
MAX_CHECK_AFTER_SECS: Final = DAY_SECS
MAX_MEDIA_BYTES: Final = spec.MAX_TOTAL_BYTES_V2
MAX_INT32: Final = 2**31 - 1
_MEDIA_ID = re.compile(r"[0-9]{1,19}")


class OutOfRange(ValueError):
    """A number from outside that is not what its field allows; the message names both."""

    def __init__(self, name: str, value: object, what: str) -> None:
        super().__init__(f"{name} {_show(value)} is not {what}")
        self.name = name
        self.value = value


def _show(value: object) -> str:
    """``1e+300``, ``nan``, ``'12'``: the value as a Python reader sees it, cut short."""
    if isinstance(value, int) and value.bit_length() > 64:  # repr() refuses 4,300 digits
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"(an integer of about {digits} digits)"
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _fmt(bound: float) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def _number(value: object) -> int | float | None:
    """``value`` if it is a JSON number (a bool is not one)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _span(low: float, high: float, unit: str) -> str:
    days = high / DAY_SECS
    note = f" ({days:g} day{'' if days == 1 else 's'})" if unit == "seconds" and days >= 1 else ""
    return f"{unit} between {_fmt(low)} and {_fmt(high)}{note}"


def in_range(name: str, value: object, low: float, high: float, unit: str) -> float:
    """``value`` as a float if it is a number within ``low`` … ``high`` (so finite: NaN
    and infinities compare false); else :class:`OutOfRange`: ``expires_after_secs nan is
    not a number of seconds between 0 and 2592000 (30 days)``."""
    number = _number(value)
    if number is not None and low <= number <= high:
        return float(number)
    raise OutOfRange(name, value, f"a number of {_span(low, high, unit)}")


def whole(name: str, value: object, low: int, high: int, unit: str) -> int:
    """``value`` as an int if it is a whole number (``12``, or ``12.0``) within ``low`` …
    ``high``; else :class:`OutOfRange`."""
    number = _number(value)
    if number is not None and low <= number <= high and float(number).is_integer():
        return int(number)
    raise OutOfRange(name, value, f"a whole number of {_span(low, high, unit)}")


def media_id(name: str, value: object) -> str:
    """X's media id (1 to 19 digits; v1.1's ``media_id`` may be a JSON integer)."""
    if isinstance(value, str) and _MEDIA_ID.fullmatch(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**19:
        return str(value)
    raise OutOfRange(name, value, "a media id (1 to 19 digits)")


def code(value: object) -> int | None:
    """An error code (0 … 2**31 - 1), or None when it is absent or not one."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT32:
        return value
    return None
