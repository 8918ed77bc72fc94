"""One registry of the secrets in use, and the masking every output goes through.

A secret is known here once credentials are built (:mod:`bulkup.auth.credentials`
registers each OAuth 1.0a key, secret and token, each OAuth 2.0 access and refresh
token and client secret, renewed ones included). Everything bulkup writes for a user
passes through :func:`text` or :func:`value` first: the report and the summary
(:mod:`bulkup.run.report`), the posts file, the log events (:mod:`bulkup.logs`), the
command line's messages and ``bulkup status``; and every :class:`~bulkup.errors.UploadError`
masks its message when it is made, so what a server says (and the checkpoint keeps)
is clean before it reaches any of them.

Masked, whether registered or not:

- each registered value, wherever it appears in a string (values shorter than
  :data:`MIN_LENGTH` are left alone: too many false hits);
- what follows ``Bearer`` or ``Basic`` (an ``Authorization`` header echoed back);
- the values of ``oauth_token``, ``oauth_signature`` and ``oauth_consumer_key`` in an
  OAuth 1.0a header;
- the user and password of a URL (``https://user:pw@host`` → ``https://***@host``).

The registry only grows: a process forgets no secret it once used (a renewed token's
predecessor may still appear in an answer).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any, Final

__all__ = ["MASK", "MIN_LENGTH", "known", "register", "text", "value"]

MASK: Final = "***"
#: Secrets shorter than this are not searched for inside strings.
MIN_LENGTH: Final = 6

_PATTERNS: Final = (
    # An Authorization header's credentials: "Bearer abc.def", "Basic dXNlcjpwdw==" (at
    # least 8 characters, not all letters: "Basic credentials" is prose, left alone).
    (
        re.compile(r"\b(Bearer|Basic)(\s+)(?=[A-Za-z]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}"),
        r"\1\2" + MASK,
    ),
    # OAuth 1.0a header parameters that identify or authorize (quoted or not).
    (
        re.compile(r'\b(oauth_(?:token|signature|consumer_key))=("?)[^",&\s]*'),
        r"\1=\2" + MASK,
    ),
    # URL credentials: scheme://user[:password]@host.
    (re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/?#@\s]+@", re.IGNORECASE), r"\1" + MASK + "@"),
)

#: A cheap test before the patterns: text without any of these holds none of them.
_TRIGGERS: Final = ("Bearer", "Basic", "oauth_", "://")

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
_known: re.Pattern[str] | None = None  # the secrets, longest first, as one alternation


def register(secrets: Iterable[str | None]) -> None:
    """Remember ``secrets`` (empty and short ones ignored) for every later masking."""
    global _secrets, _known
    fresh = {s for s in secrets if s and len(s) >= MIN_LENGTH}
    if fresh <= set(_secrets):
        return
    with _lock:
        # Longest first, so a secret inside another is masked whole.
        _secrets = tuple(sorted({*_secrets, *fresh}, key=len, reverse=True))
        _known = re.compile("|".join(map(re.escape, _secrets)))


def known() -> tuple[str, ...]:
    """The registered secrets (for tests and diagnostics; never print them)."""
    return _secrets


def text(message: str) -> str:
    """``message`` with every registered secret and credential-shaped text masked."""
    if len(message) < MIN_LENGTH:
        return message
    if _known is not None:
        message = _known.sub(MASK, message)
    if any(trigger in message for trigger in _TRIGGERS):
        for pattern, replacement in _PATTERNS:
            message = pattern.sub(replacement, message)
    return message


def value(data: Any) -> Any:
    """``data`` (JSON-like: dicts, lists, strings…) with :func:`text` applied to each
    string value (keys are field names, left alone); other values are returned as
    they are."""
    if isinstance(data, str):
        return text(data)
    if isinstance(data, dict):
        return {k: value(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return type(data)(value(v) for v in data)
    return data
