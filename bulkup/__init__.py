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
"""

import importlib.metadata as _metadata

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

try:
    __version__ = _metadata.version("bulkup")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

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
