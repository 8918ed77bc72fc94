"""The ``bulkup`` command line, a thin layer over the library.

Subcommands:

- ``bulkup upload``: :mod:`bulkup.cli.upload`;
- ``bulkup status``: :mod:`bulkup.cli.status`;
- ``bulkup demo``: :mod:`bulkup.cli.demo`;
- ``bulkup validate``: :mod:`bulkup.cli.validate`;
- ``bulkup config show``: :mod:`bulkup.cli.config`;
- ``bulkup serve``: run the local emulator of the X media upload API: :mod:`bulkup.cli.serve`;
- ``bulkup auth login`` / ``bulkup auth status``: OAuth 2.0 user tokens (PKCE);
- ``bulkup dashboard``: a live page of the work queue: :mod:`bulkup.cli.dashboard`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bulkup.cli import signals
from bulkup.cli.serve import SERVE_HOST as SERVE_HOST
from bulkup.cli.serve import SERVE_PORT as SERVE_PORT
from bulkup.run import exits

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
    from bulkup.cli import dashboard as cli_dashboard
    from bulkup.cli import demo as cli_demo
    from bulkup.cli import serve as cli_serve
    from bulkup.cli import status as cli_status
    from bulkup.cli import upload as cli_upload
    from bulkup.cli import validate as cli_validate

    cli_upload.add_upload(commands)
    cli_status.add_status(commands)
    cli_demo.add_demo(commands)
    cli_validate.add_validate(commands)
    cli_config.add_config(commands)
    cli_serve.add_serve(commands)
    cli_auth.add_auth(commands)
    cli_dashboard.add_dashboard(commands)
    return parser


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
        except BrokenPipeError:
            return _reader_left()


#: The exit status of a command whose standard output's reader left (``| head``): that
#: of a process killed by SIGPIPE, as other tools end then.
EXIT_BROKEN_PIPE = 141


def _reader_left() -> int:
    """Standard output's reader is gone: no traceback, and nothing more written there
    (Python's flush at exit would fail again)."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor behind sys.stdout
        pass
    finally:
        os.close(devnull)
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
