"""Credentials go over plain ``http://`` only to this machine, unless the user says so.

A bearer token, an OAuth 1.0a signature with its access token, or a refresh token sent
in clear to another host can be read (and used) by anyone on the way. The emulator
listens on loopback (``127.0.0.0/8``, ``::1``, ``localhost``), which stays allowed;
anything else needs ``https://`` or ``--allow-plain-http`` (``BULKUP_ALLOW_PLAIN_HTTP``,
``[tls] allow_plain_http``).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from bulkup.auth.credentials import Auth, OAuth1Auth
from bulkup.auth.oauth2 import OAuth2Auth
from bulkup.errors import ConfigError

__all__ = ["check_plain_http", "check_url", "is_loopback"]

ALLOW = "--allow-plain-http (or BULKUP_ALLOW_PLAIN_HTTP=1, or allow_plain_http = true in [tls])"


def is_loopback(host: str | None) -> bool:
    """``localhost`` (and names under it), ``127.0.0.0/8``, ``::1`` (IPv4-mapped too)."""
    if not host:
        return False
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_plain_http(endpoint: str, auth: Auth) -> None:
    """Refuse (ConfigError) to send ``auth``'s credentials over plain http to another host:
    to ``endpoint`` (every request), or to the token URL a renewing token is sent to."""
    what = (
        "the OAuth 1.0a access token and signature"
        if isinstance(auth, OAuth1Auth)
        else "the bearer token"
    )
    check_url(endpoint, what, "--endpoint")
    if isinstance(auth, OAuth2Auth) and auth.client is not None and auth.can_refresh:
        check_url(auth.client.token_url, "the refresh token", "the token URL")


def check_url(url: str, what: str, where: str) -> None:
    """Refuse (ConfigError) to send ``what`` to ``url`` (named ``where``) over plain
    http to a host other than this machine."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http" or is_loopback(parts.hostname):
        return
    raise ConfigError(
        f"refusing to send {what} over plain http:// to {parts.hostname} ({where} {url}): "
        f"anyone on the way could read it and use it. Use https://, or, on a network you "
        f"trust, {ALLOW}"
    )
