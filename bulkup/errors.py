"""bulkup's exceptions.

::

    BulkupError
    ├── ConfigError(BulkupError, ValueError)      bad option, setting or credentials
    ├── LoginFailed                               ``bulkup auth login`` got no token
    └── UploadError                               one item failed; carries ``kind``
        ├── ApiError                              the server answered with an error
        │   ├── AuthError                         401 / 403: fix the credentials
        │   │   └── TokenRefused                  the token endpoint refused a refresh
        │   ├── RateLimited                       429: wait for ``reset_at``
        │   └── ServerError                       5xx
        ├── RateCapped                            a limit resets beyond ``max_wait``: later
        ├── TransportError                        no usable answer (aiohttp's errors, mapped)
        │   ├── ConnectError                      the server could not be reached
        │   │   ├── ConnectionRefused             nothing listens at its address and port
        │   │   ├── NameNotResolved               its host name does not resolve
        │   │   └── Unreachable                   never reached in this run: the run stops
        │   ├── TLSError                          its certificate is not trusted
        │   ├── Disconnected                      it closed the connection, no answer
        │   └── UploadTimeout(TransportError, TimeoutError)
        │       ├── ConnectTimeout                no connection in time
        │       ├── ReadTimeout                   no answer in time
        │       ├── WriteTimeout                  the request (a chunk) not taken in time
        │       └── StallError                    no answer for the stall timeout: the run stops
        ├── ProtocolError                         an answer we cannot understand
        ├── ProcessingFailed                      the server could not process the media
        ├── ProcessingTimeout                     processing took longer than allowed
        ├── FileChanged                           the file changed during the upload
        └── FileProblem                           the file cannot be uploaded as it is

Every :class:`UploadError` knows whether it is ``retryable`` and becomes the
report's ``error`` object through :meth:`UploadError.info`. Messages never
contain credentials: an :class:`UploadError` masks its message when it is made
(:func:`bulkup.redact.text`), so a server that echoes the ``Authorization`` header in
its answer puts no secret into the report, the summary or the checkpoint.

Besides the ``kind`` of each class above, a report's ``error.kind`` is one of these,
for items that never reached the server:

* ``preflight``: the file breaks the media rules (``FileProblem``); ``post_group``: its
  post holds media that cannot go together;
* an entry of a source that cannot be an item (:class:`bulkup.core.items.SourceProblem`),
  failed: ``invalid_entry``, ``invalid_value``, ``missing_file``, ``not_a_file``,
  ``unreadable``, ``empty_file``, ``duplicate_id``, ``symlink_loop``;
* left out on purpose, ``skipped`` (they leave the exit status alone): ``symlink_not_followed``,
  ``system_folder``, and ``not_media``, a file met by a directory scan whose first bytes
  are not an image, a GIF or a video (subtitles included: they attach through a
  manifest). A file named on the command line or by a manifest is never ``not_media``:
  if it is not media, it fails ``preflight``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from bulkup import redact
from bulkup.core.items import ErrorInfo

_E = TypeVar("_E", bound=BaseException)
_K = TypeVar("_K", bound=BaseException)


class BulkupError(Exception):
    """Base of every error bulkup raises on purpose."""


class ConfigError(BulkupError, ValueError):
    """An option, setting or credential is missing or invalid; the message says the fix."""


class LoginFailed(BulkupError):
    """The OAuth 2.0 login did not give a token; ``error`` is the RFC 6749 code if any."""

    def __init__(self, message: str, *, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


class UploadError(BulkupError):
    """An item could not be uploaded (or not yet: see ``retryable``)."""

    kind = "upload_error"
    retryable = False

    def __init__(
        self, message: str, *, http_status: int | None = None, api_code: int | None = None
    ) -> None:
        message = redact.text(message)
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.api_code = api_code

    def info(self) -> ErrorInfo:
        return ErrorInfo(
            kind=self.kind,
            message=self.message,
            http_status=self.http_status,
            api_code=self.api_code,
        )


class ApiError(UploadError):
    """The server answered with an error status.

    ``reset_at`` (Unix seconds) is when a spent rate-limit window resets, and
    ``retry_after`` the seconds of a ``Retry-After`` header: the answer says when to
    try again (see :meth:`wait_until`).
    """

    kind = "api_error"

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        api_code: int | None = None,
        retryable: bool | None = None,
        reset_at: float | None = None,
        retry_after: float | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, api_code=api_code)
        if retryable is not None:
            self.retryable = retryable
        else:
            self.retryable = http_status == 408
        self.reset_at = reset_at
        self.retry_after = retry_after
        #: The rate-limit bucket of the request answered (``append``, ``metadata``…).
        self.endpoint = endpoint

    def wait_until(self, now: float) -> float | None:
        """When the server said to try again, or None if it did not say."""
        times = [t for t in (self.reset_at, self._after(now)) if t is not None]
        return max(times) if times else None

    def _after(self, now: float) -> float | None:
        return None if self.retry_after is None else now + self.retry_after


class AuthError(ApiError):
    kind = "auth_error"


class TokenRefused(AuthError):
    """The token endpoint refused to refresh the access token (e.g. ``invalid_grant``).

    ``error`` is the RFC 6749 §5.2 code; the message says how to get a new token.
    """

    def __init__(self, message: str, *, http_status: int, error: str | None = None) -> None:
        super().__init__(message, http_status=http_status, retryable=False)
        self.error = error


class RateLimited(ApiError):
    """429. ``reset_at`` is the latest reset of the windows the answer says are spent
    (``limit`` names the one: ``15-minute``, ``24-hour app``, ``24-hour user``); without
    one (a burst refused while budget remains) a short backoff is all it takes."""

    kind = "rate_limited"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        http_status: int = 429,
        limit: str | None = None,
        **answer: Any,
    ) -> None:
        """``answer``: ``api_code``, ``reset_at``, ``retry_after``, ``endpoint``."""
        super().__init__(message, http_status=http_status, retryable=True, **answer)
        self.limit = limit


class ServerError(ApiError):
    kind = "server_error"

    def __init__(self, message: str, *, http_status: int, **answer: Any) -> None:
        """``answer``: ``api_code``, ``reset_at``, ``retry_after``, ``endpoint``."""
        super().__init__(message, http_status=http_status, retryable=True, **answer)


class RateCapped(UploadError):
    """A limit of ``endpoint`` resets at ``retry_at``, beyond the run's ``max_wait``.

    Nothing more is sent to that endpoint in this run; the item is reported
    ``skipped`` with ``retry_after``, and a later run with the same checkpoint
    finishes it.
    """

    kind = "rate_capped"

    def __init__(self, message: str, *, endpoint: str, retry_at: float) -> None:
        super().__init__(message, http_status=429)
        self.endpoint = endpoint
        self.retry_at = retry_at


class TransportError(UploadError):
    """No usable answer: refused or dropped connection, TLS failure, timeout."""

    kind = "transport_error"
    retryable = True


class ConnectError(TransportError):
    """No connection could be made (refused, no route, no such host).

    ``fix`` says what the user can do when nothing was ever reached this way."""

    fix = "check --endpoint and this machine's network"


class ConnectionRefused(ConnectError):
    """Nothing listens at the server's address and port (the connection was refused)."""

    fix = "start the server, or correct --endpoint"


class NameNotResolved(ConnectError):
    """The server's host name does not resolve (DNS)."""

    fix = "correct the host name in --endpoint, or this machine's DNS settings"


class Unreachable(ConnectError):
    """Nothing has answered in this run and connections keep failing (refused, no such
    host, or not made within the connect timeout): the run stops sending. Not retried:
    the server is down or the endpoint is wrong; a later run can finish the items."""

    retryable = False


class TLSError(TransportError):
    """The server's certificate failed verification: retrying cannot help."""

    kind = "tls_error"
    retryable = False


class Disconnected(TransportError):
    """The server closed the connection before answering (a kept-alive one, often)."""


class UploadTimeout(TransportError, TimeoutError):
    kind = "timeout"


class ConnectTimeout(UploadTimeout):
    """No connection within the connect timeout."""


class ReadTimeout(UploadTimeout):
    """No byte of the answer within the read timeout."""


class WriteTimeout(UploadTimeout):
    """A request carrying a chunk was not done in time: the server stopped reading."""


class StallError(UploadTimeout):
    """Requests were outstanding and none was answered for the run's stall timeout
    (``--stall-timeout``): the run stops sending, and the items still running fail
    with this error. Not retried; a later run with the checkpoint can finish them."""

    kind = "stalled"
    retryable = False


class ProtocolError(UploadError):
    """An answer that does not have the shape the API documents.

    With a 2xx ``http_status`` the server accepted the request but its answer lacks
    what the document requires (see :attr:`accepted`).
    """

    kind = "protocol_error"
    retryable = True

    @property
    def accepted(self) -> bool:
        """The status said success: the server acted, only the answer is unusable."""
        return self.http_status is not None and 200 <= self.http_status < 300


class ProcessingFailed(UploadError):
    """``processing_info.state`` became ``failed``; ``name`` is e.g. InvalidMedia."""

    kind = "processing_failed"

    def __init__(self, message: str, *, api_code: int | None = None, name: str | None = None):
        super().__init__(f"{name}: {message}" if name else message, api_code=api_code)
        self.name = name


class ProcessingTimeout(UploadError):
    kind = "processing_timeout"


class FileChanged(UploadError):
    kind = "file_changed"


class FileProblem(UploadError):
    """The file cannot be uploaded as it is (too large, unreadable, unknown type)."""

    kind = "file_problem"

    def __init__(self, message: str, *, kind: str = "file_problem") -> None:
        super().__init__(message)
        self.kind = kind


def leaves(error: BaseException) -> list[BaseException]:
    """Every error inside ``error``, however deeply grouped, in order (``[error]`` if it
    is not an exception group)."""
    found: list[BaseException] = []
    stack = [error]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(reversed(exc.exceptions))
        else:
            found.append(exc)
    return found


def single_error(
    error: _E, kind: type[_K], *, prefer: type[BaseException] | None = None
) -> _E | _K:
    """The one error to show for ``error``, a group of errors raised together (a full
    disk seen by several tasks at once) or a single one.

    When every error inside is a ``kind``, the first of them (the first ``prefer``, if
    any is one); otherwise ``error`` itself, kept whole with its tracebacks: a group
    holding anything else is a bug or a cancellation, not a failure to report.
    """
    found = leaves(error)
    known = [exc for exc in found if isinstance(exc, kind)]
    if len(known) < len(found):
        return error
    preferred = [exc for exc in known if prefer is not None and isinstance(exc, prefer)]
    return (preferred or known)[0]
