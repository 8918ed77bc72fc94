"""Where OAuth 2.0 tokens come from and go back to: a private JSON file, or the environment.

The file is what ``bulkup auth login`` writes::

    {"access_token": "…", "refresh_token": "…", "token_type": "bearer",
     "expires_at": 1767225600, "scope": "media.write offline.access"}

It is written whole and atomically, with mode 0600 (:func:`bulkup.privatefiles.replace`),
and a file that other users can read is refused rather than used: a leaked refresh token
is a standing login. Tokens from environment variables cannot be written back: after a
refresh they live only in this process, and a warning (once) says which variables
to update. Nothing here ever prints a token.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Token

from bulkup import logs, privatefiles
from bulkup.errors import ConfigError

#: The keys a token file holds.
TOKEN_KEYS = ("access_token", "refresh_token", "token_type", "expires_at", "scope")
DEFAULT_TOKEN_FILE = Path("~/.config/bulkup/token.json")
#: The variables a token from the environment comes from.
ENV_TOKEN_VARS = ("X_BEARER_TOKEN", "X_REFRESH_TOKEN")


class TokenStore:
    """Loads the tokens and saves refreshed ones; see :meth:`file` and :meth:`memory`."""

    #: Stable for the life of the store (part of the auth's account fingerprint).
    identity: str = ""

    @staticmethod
    def file(path: str | os.PathLike[str]) -> FileTokenStore:
        """A JSON token file, as ``bulkup auth login`` writes it."""
        return FileTokenStore(Path(path).expanduser())

    @staticmethod
    def memory(
        access_token: str,
        refresh_token: str | None = None,
        *,
        variables: tuple[str, ...] = ENV_TOKEN_VARS,
    ) -> MemoryTokenStore:
        """Tokens given directly (from ``variables``); refreshed ones are not saved."""
        return MemoryTokenStore(access_token, refresh_token, variables)

    def load(self) -> OAuth2Token:
        raise NotImplementedError

    def save(self, token: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def relogin_hint(self) -> str:
        """What the user does when the tokens cannot be refreshed."""
        return "run `bulkup auth login` again"

    def refreshing(
        self, current: Mapping[str, Any]
    ) -> AbstractAsyncContextManager[OAuth2Token | None]:
        """Held around one refresh of the tokens ``current``.

        It gives tokens to use instead of refreshing: newer ones another process
        obtained meanwhile (a store shared between processes, which also lets one of
        them refresh at a time: :mod:`bulkup.fleet.tokens`); or None, and the holder
        refreshes and calls :meth:`save` inside it. A store of one process gives None.
        """
        return contextlib.nullcontext(None)


class FileTokenStore(TokenStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity = "file:" + str(path.absolute())

    def __repr__(self) -> str:
        return f"TokenStore.file({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    def relogin_hint(self) -> str:
        return f"run `bulkup auth login --token-file {self.path}` again"

    def load(self) -> OAuth2Token:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            raise ConfigError(
                f"no token file {self.path}: run `bulkup auth login` to create it"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot read token file {self.path}: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as fh:
            mode = stat.S_IMODE(os.fstat(fh.fileno()).st_mode)
            if mode & 0o077:
                raise ConfigError(
                    f"token file {self.path} can be read by other users (mode {mode:04o}): "
                    f"run `chmod 600 {self.path}` and try again"
                )
            raw = fh.read()
        return _parse(raw, self.path)

    def save(self, token: Mapping[str, Any]) -> None:
        """Replace the file atomically, mode 0600 whatever the umask."""
        data = json.dumps({k: token[k] for k in TOKEN_KEYS if token.get(k) is not None}, indent=2)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        privatefiles.replace(self.path, data.encode() + b"\n")


class MemoryTokenStore(TokenStore):
    def __init__(
        self, access_token: str, refresh_token: str | None, variables: tuple[str, ...]
    ) -> None:
        self._token: dict[str, Any] = {"access_token": access_token, "token_type": "bearer"}
        if refresh_token:
            self._token["refresh_token"] = refresh_token
        self.variables = variables
        self.identity = "env:" + ",".join(variables)
        self._warned = False

    def __repr__(self) -> str:
        return f"TokenStore.memory(variables={self.variables!r}, tokens=***)"

    def __str__(self) -> str:
        return "the environment (" + ", ".join(self.variables) + ")"

    def relogin_hint(self) -> str:
        names = " and ".join(self.variables)
        return f"set {names} to new tokens, or run `bulkup auth login` and use X_TOKEN_FILE"

    def load(self) -> OAuth2Token:
        return OAuth2Token(dict(self._token))

    def save(self, token: Mapping[str, Any]) -> None:
        self._token = {k: token[k] for k in TOKEN_KEYS if token.get(k) is not None}
        if not self._warned:
            self._warned = True
            names = " and ".join(self.variables)
            logs.event(
                "warning",
                "oauth2_tokens_in_memory",
                detail=(
                    f"the access token was refreshed, but tokens from {names} cannot be "
                    "saved: the new ones live only in this process, and the refresh "
                    f"token in {self.variables[-1]} no longer works (refresh tokens are "
                    f"single-use). Update {names}, or run `bulkup auth login` and set "
                    "X_TOKEN_FILE instead."
                ),
            )


def _parse(raw: bytes, path: Path) -> OAuth2Token:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"token file {path} is not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise ConfigError(
            f"token file {path} has no access_token: run `bulkup auth login` to write it again"
        )
    return OAuth2Token(data)
