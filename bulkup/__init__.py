"""bulkup: concurrent, resumable bulk uploads to the X (Twitter) media upload API.

The uploader arrives in a later release; today the package provides the local
emulator of the API (:mod:`bulkup.emulator`, ``bulkup serve``), OAuth 1.0a signing
(:mod:`bulkup.oauth1`), media checks (:mod:`bulkup.media`) and sample media
(:mod:`bulkup.samples`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bulkup")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
