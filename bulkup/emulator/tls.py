"""TLS for the emulator: a throwaway self-signed CA, or the user's certificate.

Some real clients (tweepy) always speak https, so the emulator can serve TLS with
a certificate issued by a fresh local CA (trustme); the CA certificate is written
to a PEM file that clients trust, e.g. ``REQUESTS_CA_BUNDLE=ca.pem``.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import trustme

SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


def self_signed_context(ca_path: Path, names: tuple[str, ...] = SERVER_NAMES) -> ssl.SSLContext:
    """A server context with a new CA's certificate; the CA PEM goes to ``ca_path``."""
    ca = trustme.CA()
    cert = ca.issue_cert(*names)
    ca_path.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(ca_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def file_context(cert: str | os.PathLike[str], key: str | os.PathLike[str]) -> ssl.SSLContext:
    """A server context from the user's PEM certificate chain and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context
