"""bulkup: concurrent, resumable bulk uploads to the X (Twitter) media upload API.

::

    import bulkup

    async with bulkup.Uploader(bulkup.UploadConfig(api="v2")) as up:
        result = await up.upload("clip.mp4")
        print(result.media_id_string)

        async for result in up.upload_many(bulkup.iter_sources(["photos/"]),
                                           checkpoint="run.ckpt"):
            print(result.id, result.status)

The local emulator of the API lives in :mod:`bulkup.emulator` (``bulkup serve``).

Importing ``bulkup`` is cheap: each name loads its module when first used (PEP 562), so
``python -m bulkup`` installs its signal handlers before aiohttp and the rest (200 ms)
are imported, and a Ctrl-C that early exits 130 instead of printing a traceback.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from bulkup.auth.credentials import BearerAuth, OAuth1Auth, auth_from_env
    from bulkup.auth.oauth1 import Credentials
    from bulkup.auth.oauth2 import OAuth2Auth, OAuth2Client, TokenStore
    from bulkup.client.config import UploadConfig
    from bulkup.client.uploader import Uploader
    from bulkup.core.items import ErrorInfo, Item, Result, SourceProblem
    from bulkup.errors import (
        ApiError,
        AuthError,
        BulkupError,
        ConfigError,
        ConnectError,
        ConnectTimeout,
        Disconnected,
        FileChanged,
        FileProblem,
        LoginFailed,
        ProcessingFailed,
        ProcessingTimeout,
        ProtocolError,
        RateCapped,
        RateLimited,
        ReadTimeout,
        ServerError,
        TLSError,
        TokenRefused,
        TransportError,
        UploadError,
        UploadTimeout,
        WriteTimeout,
    )
    from bulkup.run.checkpoint import CheckpointError, CheckpointLocked, CheckpointMismatch
    from bulkup.sources import SourceOptions, iter_sources

    __version__: str

#: Where each public name lives.
_HOMES = {
    "BearerAuth": "bulkup.auth.credentials",
    "OAuth1Auth": "bulkup.auth.credentials",
    "auth_from_env": "bulkup.auth.credentials",
    "Credentials": "bulkup.auth.oauth1",
    "OAuth2Auth": "bulkup.auth.oauth2",
    "OAuth2Client": "bulkup.auth.oauth2",
    "TokenStore": "bulkup.auth.oauth2",
    "UploadConfig": "bulkup.client.config",
    "Uploader": "bulkup.client.uploader",
    "ErrorInfo": "bulkup.core.items",
    "Item": "bulkup.core.items",
    "Result": "bulkup.core.items",
    "SourceProblem": "bulkup.core.items",
    "CheckpointError": "bulkup.run.checkpoint",
    "CheckpointLocked": "bulkup.run.checkpoint",
    "CheckpointMismatch": "bulkup.run.checkpoint",
    "SourceOptions": "bulkup.sources",
    "iter_sources": "bulkup.sources",
}


def __getattr__(name: str) -> _Any:
    """Load a public name's module on first use (errors live in ``bulkup.errors``)."""
    if name == "__version__":
        import importlib.metadata

        try:
            version = importlib.metadata.version("bulkup")
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a source tree
            version = "0.0.0"
        globals()["__version__"] = version
        return version
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(_HOMES.get(name, "bulkup.errors")), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "ApiError",
    "AuthError",
    "BearerAuth",
    "BulkupError",
    "CheckpointError",
    "CheckpointLocked",
    "CheckpointMismatch",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "Credentials",
    "Disconnected",
    "ErrorInfo",
    "FileChanged",
    "FileProblem",
    "Item",
    "LoginFailed",
    "OAuth1Auth",
    "OAuth2Auth",
    "OAuth2Client",
    "ProcessingFailed",
    "ProcessingTimeout",
    "ProtocolError",
    "RateCapped",
    "RateLimited",
    "ReadTimeout",
    "Result",
    "ServerError",
    "SourceOptions",
    "SourceProblem",
    "TLSError",
    "TokenRefused",
    "TokenStore",
    "TransportError",
    "UploadConfig",
    "UploadError",
    "UploadTimeout",
    "Uploader",
    "WriteTimeout",
    "__version__",
    "auth_from_env",
    "iter_sources",
]
