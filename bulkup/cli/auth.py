"""``bulkup auth login`` and ``bulkup auth status``: OAuth 2.0 user tokens for bulkup.

``login`` runs the authorization code flow with PKCE (:func:`bulkup.auth.oauth2.login_pkce`)
and writes the token file that ``X_TOKEN_FILE`` points ``bulkup upload`` at; ``status``
shows what that file holds, tokens masked. Exit status: 0 done, 1 the login failed,
2 usage or configuration error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from bulkup.auth.oauth2 import (
    CALLBACK_PATH,
    DEFAULT_REDIRECT_PORT,
    DEFAULT_REDIRECT_URI,
    DEFAULT_SCOPE,
    X_AUTHORIZE_URL,
    X_TOKEN_URL,
    OAuth2Client,
    login_pkce,
    loopback_address,
    print_and_open,
    print_url,
    redirect_uri_for,
)
from bulkup.auth.tokenstore import DEFAULT_TOKEN_FILE, TokenStore
from bulkup.cli import signals
from bulkup.cli.guards import check_url
from bulkup.errors import BulkupError, ConfigError, LoginFailed

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_LOGIN_TIMEOUT = 300.0


def add_auth(commands: Any) -> None:
    """Register ``bulkup auth`` with its ``login`` and ``status`` actions."""
    auth = commands.add_parser(
        "auth",
        help="log in with OAuth 2.0 (PKCE) and show the saved token",
        description=(
            "Obtain and inspect OAuth 2.0 user tokens. 'bulkup auth login' saves them to a "
            "token file; run uploads with X_TOKEN_FILE=FILE and X_CLIENT_ID set (and "
            "X_CLIENT_SECRET for a confidential client; X_TOKEN_URL only for a server other "
            f"than X, whose token URL {X_TOKEN_URL} is the default), and the access token "
            "is renewed shortly before it expires and saved back to the file."
        ),
    )
    actions = auth.add_subparsers(dest="auth_action", metavar="ACTION")
    actions.required = True
    _add_login(actions)
    _add_status(actions)
    _add_fleet_key(actions)


def _add_fleet_key(actions: Any) -> None:
    p = actions.add_parser(
        "fleet-key",
        help="print a new key for the OAuth 2.0 tokens workers share in Redis",
        description=(
            "Print a new Fernet key. Workers that share an account's OAuth 2.0 tokens "
            "through Redis store them encrypted with it: give every worker the same key, "
            'as [fleet] token_key = { env = "BULKUP_TOKEN_KEY" } (or { file = "…" }) in '
            "its config file, or in $BULKUP_TOKEN_KEY. Keep it secret, like a token."
        ),
    )
    p.set_defaults(handler=_run_fleet_key)


def _run_fleet_key(args: argparse.Namespace) -> int:
    try:
        from bulkup.fleet.tokens import new_key
    except ImportError:
        print(
            "bulkup auth fleet-key: needs the fleet extra: pip install 'bulkup[fleet]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(new_key())
    return EXIT_OK


def _add_login(actions: Any) -> None:
    p = actions.add_parser(
        "login",
        help="authorize bulkup in a browser and save the tokens",
        description=(
            "Run the OAuth 2.0 authorization code flow with PKCE: listen for the redirect "
            f"on {DEFAULT_REDIRECT_URI}, open the authorize URL in a browser (or print it "
            "with --no-browser), wait for the redirect, exchange the code at the token URL "
            "and write the tokens to --token-file (mode 0600). X redirects only to a "
            "callback registered on the app, compared character for character: add "
            f"{DEFAULT_REDIRECT_URI} to the app's Callback URI / Redirect URL list in the X "
            "developer console (or register another and give it with --port or "
            "--redirect-uri). Against the emulator, use --authorize-url "
            "URL/i/oauth2/authorize and --token-url URL/2/oauth2/token; its demo clients "
            "register the default callback and it approves at once. Exit status: 0 saved, "
            "1 login failed, 2 usage error."
        ),
    )
    p.add_argument(
        "--client-id",
        metavar="ID",
        help="the app's OAuth 2.0 client id (default: $X_CLIENT_ID)",
    )
    p.add_argument(
        "--client-secret-env",
        metavar="VAR",
        help="name of the environment variable holding the client secret, for a "
        "confidential client (the secret itself never goes on the command line)",
    )
    p.add_argument(
        "--authorize-url",
        metavar="URL",
        default=X_AUTHORIZE_URL,
        help="authorization endpoint (default %(default)s)",
    )
    p.add_argument(
        "--token-url",
        metavar="URL",
        help=f"token endpoint (default: $X_TOKEN_URL, else {X_TOKEN_URL})",
    )
    _token_file_option(p)
    p.add_argument(
        "--scope", default=DEFAULT_SCOPE, help="scopes to ask for (default: %(default)s)"
    )
    p.add_argument(
        "--port",
        type=int,
        metavar="N",
        help=f"listen on port N: the redirect URI becomes http://127.0.0.1:N{CALLBACK_PATH} "
        f"(default {DEFAULT_REDIRECT_PORT}; 0 takes any free port, only for a server that "
        "allows any loopback port: X does not)",
    )
    p.add_argument(
        "--redirect-uri",
        metavar="URI",
        help="the redirect URI, registered on the app as a callback, exactly: http:// to "
        "127.0.0.1, [::1] or localhost with a port and a path; bulkup listens there "
        f"(default {DEFAULT_REDIRECT_URI})",
    )
    p.add_argument(
        "--no-browser",
        action="store_true",
        help="print the authorize URL only, do not open a browser",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_LOGIN_TIMEOUT,
        metavar="SECONDS",
        help="how long to wait for the authorization (default %(default)g)",
    )
    p.add_argument(
        "--ca-bundle", metavar="FILE", help="trust this CA certificate file at the token URL"
    )
    p.add_argument(
        "--insecure", action="store_true", help="do not verify the token URL's TLS (warns)"
    )
    p.add_argument(
        "--allow-plain-http",
        action="store_true",
        help="let the login go over plain http:// to a token URL on another machine",
    )
    p.set_defaults(handler=run_login)


def _add_status(actions: Any) -> None:
    p = actions.add_parser(
        "status",
        help="show the saved token (masked): file, scope, expiry",
        description=(
            "Show what the token file holds: scope, token type, when the access token "
            "expires and whether a refresh token is present. Tokens are never shown. "
            "Exit status: 0 a usable file, 2 no file or an unreadable one."
        ),
    )
    _token_file_option(p)
    p.set_defaults(handler=run_status)


def _token_file_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help=f"token file (default: $X_TOKEN_FILE, else {DEFAULT_TOKEN_FILE})",
    )


def _token_file(args: argparse.Namespace) -> Path:
    chosen = args.token_file or os.environ.get("X_TOKEN_FILE") or DEFAULT_TOKEN_FILE
    return Path(chosen).expanduser()


def client_from_args(args: argparse.Namespace) -> OAuth2Client:
    client_id = args.client_id or os.environ.get("X_CLIENT_ID", "").strip()
    if not client_id:
        raise ConfigError("give the app's client id: --client-id ID (or set X_CLIENT_ID)")
    secret = None
    if args.client_secret_env:
        secret = os.environ.get(args.client_secret_env, "").strip()
        if not secret:
            raise ConfigError(f"--client-secret-env: ${args.client_secret_env} is not set")
    return OAuth2Client(
        client_id=client_id,
        client_secret=secret,
        token_url=args.token_url or os.environ.get("X_TOKEN_URL") or X_TOKEN_URL,
        authorize_url=args.authorize_url,
        scope=args.scope,
    )


def redirect_uri_from_args(args: argparse.Namespace) -> str:
    """``--redirect-uri``, else the default one with ``--port``; ConfigError if unusable."""
    if args.redirect_uri is not None:
        if args.port is not None:
            raise ConfigError("give --port or --redirect-uri, not both")
        loopback_address(args.redirect_uri)
        return str(args.redirect_uri)
    if args.port is None:
        return DEFAULT_REDIRECT_URI
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {args.port}")
    return redirect_uri_for(args.port)


def run_login(args: argparse.Namespace) -> int:
    try:
        client = client_from_args(args)
        redirect_uri = redirect_uri_from_args(args)
        if not args.timeout > 0:
            raise ConfigError("--timeout must be > 0")
        if args.insecure and args.ca_bundle:
            raise ConfigError(
                "--insecure and --ca-bundle contradict each other: the first turns "
                "certificate checks off, the second checks them against that CA; give only one"
            )
        if not args.allow_plain_http:
            what = "the authorization code and the client's credentials"
            check_url(client.token_url, what, "the token URL")
    except ConfigError as exc:
        print(f"bulkup auth login: {exc}", file=sys.stderr)
        return EXIT_USAGE
    store = TokenStore.file(_token_file(args))
    if args.insecure:
        print("bulkup: WARNING: --insecure: TLS certificates are NOT verified", file=sys.stderr)

    async def login() -> None:
        import aiohttp

        from bulkup.client.uploader import tls_setting

        opener = print_url if args.no_browser else print_and_open
        tls = tls_setting(verify=not args.insecure, ca_bundle=args.ca_bundle)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as http:
            await login_pkce(
                client,
                store=store,
                open_browser=opener,
                redirect_uri=redirect_uri,
                timeout=args.timeout,
                http=http,
            )

    print(f"Redirect URI (a callback registered on the app): {redirect_uri}", file=sys.stderr)
    try:
        anyio.run(login)
    except (LoginFailed, OSError) as exc:
        hint = ""
        if isinstance(exc, LoginFailed) and exc.error == "cannot_listen":
            hint = (
                "; free the port, or choose another with --port N or --redirect-uri URI "
                "(and register that callback on the app)"
            )
        print(f"bulkup auth login: {exc}{hint}", file=sys.stderr)
        return EXIT_FAILED
    except BulkupError as exc:
        print(f"bulkup auth login: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:  # SIGTERM too (see bulkup.cli.signals)
        print("bulkup auth login: interrupted; nothing saved", file=sys.stderr)
        return signals.exit_code(exc)
    secret = f" X_CLIENT_SECRET=${args.client_secret_env}" if client.client_secret else ""
    url = f" X_TOKEN_URL={client.token_url}" if client.token_url != X_TOKEN_URL else ""
    print(f"Logged in: tokens saved to {store.path}")
    print(
        f"Upload with: X_TOKEN_FILE={store.path} X_CLIENT_ID={client.client_id}{secret}{url} "
        "bulkup upload …"
    )
    return EXIT_OK


def run_status(args: argparse.Namespace) -> int:
    store = TokenStore.file(_token_file(args))
    try:
        token = store.load()
    except ConfigError as exc:
        print(f"bulkup auth status: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"token file: {store.path}")
    print(f"token type: {token.get('token_type', 'bearer')}")
    print(f"scope: {token.get('scope') or '(not recorded)'}")
    print(f"access token: *** ({_expiry(token.get('expires_at'))})")
    refresh = "present: renewed when it expires" if token.get("refresh_token") else "none"
    print(f"refresh token: {refresh}")
    return EXIT_OK


def _expiry(expires_at: object) -> str:
    if not isinstance(expires_at, int | float):
        return "expiry unknown"
    when = dt.datetime.fromtimestamp(expires_at, dt.UTC).isoformat(timespec="seconds")
    left = expires_at - time.time()
    if left <= 0:
        return f"expired at {when}"
    return f"expires at {when}, in {int(left // 60)} min"
