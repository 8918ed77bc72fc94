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
        ├── TransportError                        no usable answer: connection, TLS
        │   └── UploadTimeout(TransportError, TimeoutError)
        ├── ProtocolError                         an answer we cannot understand
        ├── ProcessingFailed                      the server could not process the media
        ├── ProcessingTimeout                     processing took longer than allowed
        ├── FileChanged                           the file changed during the upload
        └── FileProblem                           the file cannot be uploaded as it is

Every :class:`UploadError` knows whether it is ``retryable`` and becomes the
report's ``error`` object through :meth:`UploadError.info`. Messages never
contain credentials.
"""

from __future__ import annotations

from bulkup.items import ErrorInfo


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
    """The server answered with an error status."""

    kind = "api_error"

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        api_code: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, api_code=api_code)
        if retryable is not None:
            self.retryable = retryable
        else:
            self.retryable = http_status == 408


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
    kind = "rate_limited"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        http_status: int = 429,
        api_code: int | None = None,
        reset_at: float | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, api_code=api_code, retryable=True)
        self.reset_at = reset_at


class ServerError(ApiError):
    kind = "server_error"

    def __init__(self, message: str, *, http_status: int, api_code: int | None = None) -> None:
        super().__init__(message, http_status=http_status, api_code=api_code, retryable=True)


class TransportError(UploadError):
    """No usable answer: refused or dropped connection, TLS failure."""

    kind = "transport_error"
    retryable = True


class UploadTimeout(TransportError, TimeoutError):
    kind = "timeout"


class ProtocolError(UploadError):
    """An answer that does not have the shape the API documents."""

    kind = "protocol_error"
    retryable = True


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
