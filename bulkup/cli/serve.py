"""``bulkup serve``: the local emulator of the X media upload API, run by hand.

Standard output gets only ``export NAME=value`` lines (values shell-quoted), so
``eval "$(bulkup serve --print-env)"`` sets a shell up for the emulator; everything
meant for a person (the banner, one line per request, "stopped") goes to standard
error. ``--print-env`` prints the lines of the emulator these options would start
and exits: its credentials are fixed (the profile's first user, else the ``X_*``
variables already set, else the demo user), only the port must be given (not 0).

Building the parser imports neither the emulator nor aiohttp.web (which took 30-90 ms
of every ``bulkup upload``'s start-up); running the command does.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from bulkup.run.exits import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    import ssl

    from bulkup.emulator import Emulator, EmulatorConfig, User

#: ``bulkup serve``'s defaults, those of :class:`bulkup.emulator.Emulator` (a test checks).
SERVE_HOST, SERVE_PORT = "127.0.0.1", 8765
#: The variables ``bulkup upload`` reads for ``--endpoint`` and ``--ca-bundle``.
ENDPOINT_VAR, CA_BUNDLE_VAR = "BULKUP_ENDPOINT", "BULKUP_CA_BUNDLE"

WORKFLOW = """\
try it by hand (one shell; or run `bulkup serve` in another terminal to watch its log):
  eval "$(bulkup serve --print-env)"   # the emulator's credentials and BULKUP_ENDPOINT
  bulkup serve 2>serve.log &           # one line per request in serve.log
  bulkup upload photos/

in a script, wait until it listens: it prints its export lines only then
  bulkup serve >serve.env 2>serve.log &
  until grep -qs BULKUP_ENDPOINT serve.env; do sleep 0.1; done; . ./serve.env
  bulkup upload photos/

Standard output gets only the `export` lines (at start, or alone with --print-env);
the banner and the request log go to standard error. The credentials are fixed: the
profile's first [[users]], else the X_* variables already set (not printed again),
else the demo user's.
"""


def add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the local emulator of the X media upload API",
        description=(
            "Serve the X media upload API (v1.1 and v2 dialects on one port) locally, with\n"
            "OAuth checks, media checks, rate limits and optional fault simulation. Prints\n"
            "`export` lines for its credentials and URL, then logs each request (method,\n"
            "path, status, milliseconds, fault injected); stop with Ctrl-C."
        ),
        epilog=WORKFLOW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    serve.add_argument(
        "--print-env",
        action="store_true",
        help="print the `export` lines of the emulator these options start, and exit",
    )
    serve.add_argument("--quiet", action="store_true", help="no line per request on stderr")
    _add_tls(serve)
    serve.set_defaults(handler=run_serve)


def _add_tls(serve: argparse.ArgumentParser) -> None:
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


def run_serve(args: argparse.Namespace) -> int:
    from bulkup.emulator import ConfigError, EmulatorConfig

    started = time.perf_counter()
    if bool(args.tls_cert) != bool(args.tls_key):
        return _usage("--tls-cert and --tls-key go together")
    if args.print_env and args.port == 0:
        return _usage(
            "--print-env needs the port the server will use: give --port N (not 0); "
            "a server started with --port 0 prints its own export lines"
        )
    try:
        config = EmulatorConfig.from_toml(args.profile) if args.profile else EmulatorConfig()
    except ConfigError as exc:
        return _usage(str(exc))
    if args.print_env:
        url = base_url(args.host, args.port, https=bool(args.tls_self_signed or args.tls_cert))
        _print_exports(export_lines(config, url, _ca(args), os.environ))
        return EXIT_OK
    return _run(args, config, started)


def _run(args: argparse.Namespace, config: EmulatorConfig, started: float) -> int:
    import asyncio

    from bulkup.emulator import Emulator, serve
    from bulkup.emulator.tls import file_context

    tls: str | ssl.SSLContext | None = None
    if args.tls_self_signed:
        tls = "self-signed"
    elif args.tls_cert:
        tls = file_context(args.tls_cert, args.tls_key)
    emulator = Emulator(
        config,
        host=args.host,
        port=args.port,
        tls=tls,
        ca_path=args.ca_out,
        request_log=None if args.quiet else _log,
    )

    def ready(emu: Emulator) -> None:
        elapsed = time.perf_counter() - started
        _say(f"bulkup emulator listening on {emu.url} (ready in {elapsed:.2f}s)")
        url = base_url(args.host, emu.port, https=tls is not None)
        _print_exports(export_lines(config, url, _ca(args), os.environ))
        _say("\n".join(banner(emu, config, args.profile)))

    try:
        asyncio.run(serve(emulator, on_ready=ready))
    except OSError as exc:
        _say(f"bulkup serve: cannot listen on {args.host}:{args.port}: {exc.strerror}")
        return 1
    _say("bulkup emulator stopped")
    return EXIT_OK


def base_url(host: str, port: int, *, https: bool = False) -> str:
    """The URL a client on this machine uses: a wildcard address becomes loopback."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if https else 'http'}://{shown}:{port}"


def export_lines(
    config: EmulatorConfig, url: str, ca: Path | None, environ: Mapping[str, str]
) -> list[str]:
    """``export`` lines for a shell to talk to the emulator; values shell-quoted.

    The credentials of the user the emulator accepts first, unless they come from the
    ``X_*`` variables already set (then they are in the shell: never printed again).
    """
    from bulkup.emulator.config import user_from_env

    pairs: list[tuple[str, str]] = []
    if config.users or user_from_env(environ) is None:
        pairs += credential_vars(config.effective_users(environ)[0])
    if ca is not None:
        pairs.append((CA_BUNDLE_VAR, str(ca.resolve())))
    pairs.append((ENDPOINT_VAR, url))  # last: a reader may stop at it
    return [f"export {name}={shlex.quote(value)}" for name, value in pairs]


def credential_vars(user: User) -> list[tuple[str, str]]:
    """The client's ``X_*`` variables for ``user`` (OAuth 1.0a, and an OAuth 2.0 token)."""
    pairs: list[tuple[str, str]] = []
    if user.consumer_key and user.access_token:
        pairs += [
            ("X_API_KEY", user.consumer_key),
            ("X_API_SECRET", user.consumer_secret),
            ("X_ACCESS_TOKEN", user.access_token),
            ("X_ACCESS_TOKEN_SECRET", user.access_token_secret),
        ]
    if user.bearer_tokens:
        pairs.append(("X_BEARER_TOKEN", user.bearer_tokens[0]))
    return pairs


def banner(emu: Emulator, config: EmulatorConfig, profile: Path | None) -> list[str]:
    """What a person reads after the ``export`` lines (on standard error)."""
    from bulkup.emulator import DEMO_CLIENT, DEMO_USER

    lines = [
        f"  v1.1: {emu.url}/1.1/media/upload.json   v2: {emu.url}/2/media/upload",
        f"  profile: {profile or 'default'}   storage: {config.storage.mode}",
    ]
    if emu.user == DEMO_USER:
        lines.append("  accepts the demo credentials above (bulkup signs with OAuth 1.0a)")
    else:
        source = "the profile" if config.users else "the X_* variables of this shell"
        lines.append(f"  accepts the credentials of {len(emu.users)} user(s) from {source}")
    lines.append("  try it: paste the export lines in another shell, then: bulkup upload photos/")
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
    return lines


def _ca(args: argparse.Namespace) -> Path | None:
    """The CA certificate clients must trust: the one ``--tls-self-signed`` writes."""
    return args.ca_out if args.tls_self_signed else None


def _print_exports(lines: list[str]) -> None:
    print("\n".join(lines), flush=True)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _usage(message: str) -> int:
    _say(f"bulkup serve: {message}")
    return EXIT_USAGE
