"""The ``bulkup`` command line, a thin layer over the library.

Subcommands:

- ``bulkup upload``, ``demo``: :mod:`bulkup.cli.upload`;
- ``bulkup status``: :mod:`bulkup.cli.status`;
- ``bulkup validate``: :mod:`bulkup.cli.validate`;
- ``bulkup config show``: :mod:`bulkup.cli.config`;
- ``bulkup serve``: run the local emulator of the X media upload API;
- ``bulkup auth login`` / ``bulkup auth status``: OAuth 2.0 user tokens (PKCE).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bulkup.cli import signals
from bulkup.run import exits
from bulkup.run.exits import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    import ssl

EPILOG = (
    """\
examples:
  bulkup demo                                   try it: upload samples to the built-in emulator
  bulkup upload photos/ clips.jsonl --checkpoint run.ckpt --report report.jsonl
  bulkup validate photos/                       check files against the media rules, offline
  bulkup serve --profile configs/emulator-flaky.toml   a local API to test against
  bulkup config show --config run.toml          effective settings, secrets masked

credentials (environment):
  X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET   OAuth 1.0a user context
  X_BEARER_TOKEN                                OAuth 2.0 user token (scope media.write)
  X_TOKEN_FILE or X_REFRESH_TOKEN, with X_CLIENT_ID   a token that renews itself
                                                (`bulkup auth login` writes the token file;
                                                X_TOKEN_URL only for a server other than X)
  or the [auth] table of the config file (--config FILE or $BULKUP_CONFIG)

settings: every upload option also reads BULKUP_<OPTION> (e.g. BULKUP_CONCURRENCY) and
the config file; the command line wins, then the environment, then the file.
Run `bulkup COMMAND --help` for each command's options.

"""
    + exits.TABLE
)
#: ``bulkup serve``'s defaults, those of :class:`bulkup.emulator.Emulator` (a test
#: checks): building the parser must not import the emulator and aiohttp.web, which
#: took 30-90 ms of every ``bulkup upload``'s start-up.
SERVE_HOST, SERVE_PORT = "127.0.0.1", 8765


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bulkup",
        description="Concurrent, resumable bulk uploads to the X media upload API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from bulkup import __version__

    parser.add_argument("--version", action="version", version=f"bulkup {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    from bulkup.cli import auth as cli_auth
    from bulkup.cli import config as cli_config
    from bulkup.cli import status as cli_status
    from bulkup.cli import upload as cli_upload
    from bulkup.cli import validate as cli_validate

    cli_upload.add_upload(commands)
    cli_status.add_status(commands)
    cli_upload.add_demo(commands)
    cli_validate.add_validate(commands)
    cli_config.add_config(commands)
    _add_serve(commands)
    cli_auth.add_auth(commands)
    return parser


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the local emulator of the X media upload API",
        description=(
            "Serve the X media upload API (v1.1 and v2 dialects on one port) locally, "
            "with OAuth checks, media checks, rate limits and optional fault simulation. "
            "Prints the base URL and the credentials it accepts; stop with Ctrl-C."
        ),
    )
    serve.add_argument("--host", default=SERVE_HOST, help="address to bind (default %(default)s)")
    serve.add_argument(
        "--port",
        type=int,
        default=SERVE_PORT,
        help="port, 0 for any free one (default %(default)s)",
    )
    serve.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="emulator profile (TOML), e.g. configs/emulator-flaky.toml",
    )
    tls = serve.add_mutually_exclusive_group()
    tls.add_argument(
        "--tls-self-signed",
        action="store_true",
        help="serve https with a fresh local CA; its certificate is written to --ca-out",
    )
    tls.add_argument(
        "--tls-cert", type=Path, metavar="F", help="serve https with this PEM certificate"
    )
    serve.add_argument("--tls-key", type=Path, metavar="F", help="private key for --tls-cert")
    serve.add_argument(
        "--ca-out",
        type=Path,
        default=Path("bulkup-emulator-ca.pem"),
        metavar="F",
        help="where --tls-self-signed writes the CA certificate (default %(default)s)",
    )
    serve.set_defaults(handler=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    import asyncio

    from bulkup.emulator import (
        DEMO_CLIENT,
        DEMO_USER,
        ConfigError,
        Emulator,
        EmulatorConfig,
        serve,
    )
    from bulkup.emulator.tls import file_context

    started = time.perf_counter()
    if bool(args.tls_cert) != bool(args.tls_key):
        print("bulkup serve: --tls-cert and --tls-key go together", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = EmulatorConfig.from_toml(args.profile) if args.profile else EmulatorConfig()
    except ConfigError as exc:
        print(f"bulkup serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    tls: str | ssl.SSLContext | None = None
    if args.tls_self_signed:
        tls = "self-signed"
    elif args.tls_cert:
        tls = file_context(args.tls_cert, args.tls_key)
    emulator = Emulator(config, host=args.host, port=args.port, tls=tls, ca_path=args.ca_out)

    def ready(emu: Emulator) -> None:
        elapsed = time.perf_counter() - started
        user = emu.user
        lines = [
            f"bulkup emulator listening on {emu.url} (ready in {elapsed:.2f}s)",
            f"  v1.1: {emu.url}/1.1/media/upload.json   v2: {emu.url}/2/media/upload",
            f"  profile: {args.profile or 'default'}   storage: {config.storage.mode}",
        ]
        if user == DEMO_USER:
            lines += [
                "  demo credentials accepted (export these for bulkup or your client):",
                f"    X_API_KEY={user.consumer_key}",
                f"    X_API_SECRET={user.consumer_secret}",
                f"    X_ACCESS_TOKEN={user.access_token}",
                f"    X_ACCESS_TOKEN_SECRET={user.access_token_secret}",
                f"    X_BEARER_TOKEN={user.bearer_tokens[0]}",
            ]
        else:
            source = "the profile" if config.users else "the X_* environment variables"
            lines.append(f"  accepting the credentials of {len(emu.users)} user(s) from {source}")
        if DEMO_CLIENT in config.oauth2.clients:
            lines += [
                f"  OAuth 2.0 demo client (PKCE): X_CLIENT_ID={DEMO_CLIENT.client_id}",
                f"    X_TOKEN_URL={emu.url}/2/oauth2/token",
                f"    bulkup auth login --client-id {DEMO_CLIENT.client_id} --authorize-url "
                f"{emu.url}/i/oauth2/authorize --token-url {emu.url}/2/oauth2/token",
            ]
        if emu.ca_path is not None:
            lines.append(f"  TLS CA certificate: {emu.ca_path.resolve()}")
        lines.append(f"  inspect: {emu.url}/_emulator/stats   stop: Ctrl-C")
        print("\n".join(lines), flush=True)

    try:
        asyncio.run(serve(emulator, on_ready=ready))
    except OSError as exc:
        print(
            f"bulkup serve: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    print("bulkup emulator stopped", flush=True)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a signal at any phase of it exits 130 (SIGINT) or 143 (SIGTERM)
    with one line on standard error (see :mod:`bulkup.cli.signals`)."""
    with signals.handled():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            result: int = args.handler(args)
            return result
        except KeyboardInterrupt as exc:
            return signals.stopped(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
