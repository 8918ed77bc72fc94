"""Numbers from outside, checked before use: the server's answers and headers, the checkpoint.

JSON lets a server, or a damaged checkpoint, say ``NaN``, ``Infinity``, ``1e300`` or
``-5`` where a count of seconds belongs. Used as they are, such values crash a run (a
time past the year 9999 cannot be printed) or spin it (a poll every ``NaN`` seconds is
a poll at once). Every number read from outside goes through this module first:

- :func:`in_range` and :func:`whole` check a JSON value and raise :class:`OutOfRange`
  naming the field and the value: the dialects make it the item's
  :class:`~bulkup.errors.ProtocolError`, the checkpoint reader a refused record;
- :func:`header_count`, :func:`header_time` and :func:`header_delay` read one header's
  text and give None when it is not a number in range: a rate-limit header that says
  nothing usable is treated as absent (the answer itself still counts).

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
    headers
      x-*-limit, x-*-remaining  0 … 10**9        decimal digits only
      x-*-reset                 Unix time 0 … 2100-01-01, digits (and a fraction)
      Retry-After               0 … 366 days as digits, or an HTTP date up to 2100-01-01
    checkpoint
      size                      0 … 2**63 - 1    a file size (an off_t)
      mtime_ns                  ±2**63           a stat() time in nanoseconds
      upload_deadline,
      media_expires_at          Unix time 0 … 2100-01-01
      attempts, result.attempts 0 … 2**31 - 1
      result.size               0 … 2**63 - 1
      result.elapsed_s          0 … 2**31 - 1 seconds
      result.error.http_status  0 … 999
      result.error.api_code     0 … 2**31 - 1
      params.chunk_size         1 … 5 MiB        the API's largest chunk (version 1: or 0,
                                                 its "not recorded")

A reset or a ``Retry-After`` far ahead but before 2100 (a day, a year) is taken at its
word: a wait longer than ``--max-wait`` is a rate cap whose message names the date
(:class:`~bulkup.errors.RateCapped`). The pacer adds no rule of its own, such as a
reset within two days of now: the headers are read without a clock, and the cap
already bounds how long a run waits.
"""

from __future__ import annotations

import email.utils
import math
import re
from typing import Final

from bulkup.core import spec

#: Unix time of 2100-01-01T00:00:00Z: no reset, deadline or expiry lies beyond it.
MAX_UNIX_TIME: Final = 4_102_444_800
DAY_SECS: Final = 86_400
MAX_EXPIRES_AFTER_SECS: Final = 30 * DAY_SECS
MAX_CHECK_AFTER_SECS: Final = DAY_SECS
MAX_MEDIA_BYTES: Final = spec.MAX_TOTAL_BYTES_V2
MAX_INT32: Final = 2**31 - 1
MAX_INT64: Final = 2**63 - 1
#: Largest ``x-*-limit`` / ``x-*-remaining`` taken as a count.
MAX_RATE_COUNT: Final = 10**9
#: Largest ``Retry-After`` in seconds taken as meant.
MAX_RETRY_AFTER_SECS: Final = 366 * DAY_SECS

_MEDIA_ID = re.compile(r"[0-9]{1,19}")
_DIGITS = re.compile(r"[0-9]{1,10}")
_UNIX_TIME = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,9})?")


class OutOfRange(ValueError):
    """A number from outside that is not what its field allows; the message names both."""

    def __init__(self, name: str, value: object, what: str) -> None:
        super().__init__(f"{name} {_show(value)} is not {what}")
        self.name = name
        self.value = value
        #: What the value should be: ``a Unix time between 0 and 4102444800 (2100-01-01)``.
        self.what = what

    @property
    def detail(self) -> str:
        """The message without the field's name: ``nan is not a Unix time …``."""
        return f"{_show(self.value)} is not {self.what}"


def _show(value: object) -> str:
    """``1e+300``, ``nan``, ``'12'``: the value as a Python reader sees it, cut short."""
    if isinstance(value, int) and value.bit_length() > 128:  # repr() refuses 4,300 digits
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


def unix_time(name: str, value: object) -> float:
    """A Unix time between 0 and :data:`MAX_UNIX_TIME`; else :class:`OutOfRange`."""
    number = _number(value)
    if number is not None and 0 <= number <= MAX_UNIX_TIME:
        return float(number)
    raise OutOfRange(name, value, f"a Unix time between 0 and {MAX_UNIX_TIME} (2100-01-01)")


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


# --- headers -------------------------------------------------------------------------
def header_count(raw: str | None) -> int | None:
    """``x-*-limit`` / ``x-*-remaining``: decimal digits, at most :data:`MAX_RATE_COUNT`."""
    if raw is None or not _DIGITS.fullmatch(raw := raw.strip()):
        return None
    value = int(raw)
    return value if value <= MAX_RATE_COUNT else None


def header_time(raw: str | None) -> float | None:
    """``x-*-reset``: Unix seconds (digits, maybe a fraction), at most 2100-01-01."""
    if raw is None or not _UNIX_TIME.fullmatch(raw := raw.strip()):
        return None
    value = float(raw)
    return value if value <= MAX_UNIX_TIME else None


def header_delay(raw: str | None) -> tuple[float | None, float | None]:
    """``Retry-After`` as (seconds, None), or as an HTTP date (None, Unix time); (None,
    None) when absent or not usable: negative, not a number, a date before 1970 or past
    2100, more than :data:`MAX_RETRY_AFTER_SECS`."""
    if raw is None:
        return None, None
    raw = raw.strip()
    if _DIGITS.fullmatch(raw):
        seconds = int(raw)
        return (float(seconds), None) if seconds <= MAX_RETRY_AFTER_SECS else (None, None)
    try:
        at = email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None, None
    return (None, at) if math.isfinite(at) and 0 <= at <= MAX_UNIX_TIME else (None, None)
