"""The public API is exactly what ``__all__`` says, and every name in it exists."""

from __future__ import annotations

import bulkup
import bulkup.emulator

PUBLIC = {
    "ApiError", "AuthError", "BearerAuth", "BulkupError", "CheckpointError", "CheckpointLocked",
    "CheckpointMismatch", "ConfigError", "Credentials", "ErrorInfo", "FileChanged",
    "FileProblem", "Item", "LoginFailed", "OAuth1Auth", "OAuth2Auth", "OAuth2Client",
    "ProcessingFailed", "ProcessingTimeout", "ProtocolError", "RateLimited", "Result",
    "ServerError", "SourceOptions", "SourceProblem", "TokenRefused", "TokenStore",
    "TransportError", "UploadConfig", "UploadError", "UploadTimeout", "Uploader",
    "__version__", "auth_from_env", "iter_sources",
    # the transport's errors, in httpx's manner, and the rate cap
    "ConnectError", "ConnectTimeout", "Disconnected", "ReadTimeout", "WriteTimeout", "TLSError",
    "RateCapped",
}  # fmt: skip


def test_bulkup_exports_exactly_its_public_api() -> None:
    assert set(bulkup.__all__) == PUBLIC
    for name in bulkup.__all__:
        assert hasattr(bulkup, name), name
    public = {n for n in dir(bulkup) if not n.startswith("_")}
    leaked = public - PUBLIC - {"annotations"}
    modules = {n for n in leaked if isinstance(getattr(bulkup, n), type(bulkup))}
    assert leaked == modules, f"public names outside __all__: {sorted(leaked - modules)}"


def test_emulator_exports_are_all_present() -> None:
    for name in bulkup.emulator.__all__:
        assert hasattr(bulkup.emulator, name), name
    assert "Emulator" in bulkup.emulator.__all__


def test_errors_carry_structured_fields_and_mix_in_builtins() -> None:
    assert issubclass(bulkup.UploadTimeout, TimeoutError)
    assert issubclass(bulkup.ConfigError, ValueError)
    error = bulkup.ServerError("boom", http_status=503, api_code=130)
    assert error.retryable and error.info().http_status == 503 and error.info().api_code == 130
    assert not bulkup.ApiError("bad", http_status=400).retryable
