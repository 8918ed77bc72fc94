"""``bulkup config show``: the effective settings, where each came from, secrets masked.

The output is TOML (each value followed by a comment naming its origin), so it can
seed a config file: values are written as users write them (``chunk_size = "4MiB"``,
``max_wait = "15m"``) and read back the same when the output is given as ``--config``.
``--json`` prints the same as one JSON object, with exact numbers. Credentials are
described, never shown: the method in use (only its credentials: a bearer token set
beside OAuth 1.0a credentials is not used, nor listed), where each secret comes from,
and the account fingerprint the checkpoint records.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bulkup.auth.config import OAUTH1_KEYS, PLAIN_KEYS, AuthSettings, build_auth
from bulkup.auth.credentials import (
    BEARER_VAR,
    CLIENT_SECRET_VAR,
    CLIENT_VARS,
    CREDENTIAL_VARS,
    OAUTH1_VARS,
    REFRESH_VAR,
    TOKEN_FILE_VAR,
    Auth,
    BearerAuth,
    OAuth1Auth,
)
from bulkup.auth.oauth2 import OAuth2Auth
from bulkup.cli.settings import OPTIONS, SECTIONS, Settings, as_written, masked
from bulkup.errors import ConfigError

__all__ = ["add_config", "run_config_show"]

EXIT_OK, EXIT_USAGE = 0, 2


def add_config(commands: Any) -> None:
    from bulkup.cli.options import add_settings_options

    p = commands.add_parser(
        "config",
        help="show the effective settings",
        description=(
            "Settings come from the command line, then BULKUP_<OPTION> environment "
            "variables, then the config file (--config or $BULKUP_CONFIG), then defaults."
        ),
    )
    actions = p.add_subparsers(dest="config_command", metavar="ACTION")
    actions.required = True
    show = actions.add_parser(
        "show",
        help="print the effective settings with their origins, secrets masked",
        description=(
            "Print every setting a `bulkup upload` with these options would use, as TOML "
            "with the origin of each value (default, config file, environment variable "
            "or option), and the credentials it would use, with every secret masked."
        ),
    )
    add_settings_options(show)
    add_account_option(show)
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=run_config_show)


def add_account_option(p: argparse.ArgumentParser) -> None:
    """``--account NAME``: the credentials of the config file's ``[accounts.NAME]``."""
    p.add_argument(
        "--account",
        metavar="NAME",
        type=_account_name,
        help="upload with the credentials of the config file's [accounts.NAME] table; items "
        "naming another account (manifest field 'account') fail, sending nothing",
    )


def _account_name(text: str) -> str:
    from bulkup.core.items import check_account

    try:
        return check_account(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_config_show(args: argparse.Namespace) -> int:
    from bulkup.cli.options import settings_from_args

    try:
        settings = settings_from_args(args)
        credentials = _credentials(settings, args.account)
    except ConfigError as exc:
        print(f"bulkup config show: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(_as_json(settings, credentials), indent=2))
    else:
        print(_as_toml(settings, credentials))
    return EXIT_OK


#: Per method: its name, its environment variables and its ``[auth]`` keys.
_METHODS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "oauth1": ("OAuth 1.0a", OAUTH1_VARS, OAUTH1_KEYS),
    "bearer": ("OAuth 2.0 bearer token", (BEARER_VAR,), ("bearer_token",)),
    "oauth2": (
        "OAuth 2.0 token, renewed when it expires",
        (TOKEN_FILE_VAR, BEARER_VAR, REFRESH_VAR, *CLIENT_VARS, CLIENT_SECRET_VAR),
        ("token_file", "bearer_token", "refresh_token", "client_secret", *PLAIN_KEYS),
    ),
}


def describe_credentials(auth: AuthSettings) -> dict[str, str]:
    """Which credentials a run would use (only those of the method in use: OAuth 1.0a
    credentials make a bearer token set beside them irrelevant), and the account; no
    secret value. ``keys``: the ``[auth]`` keys in use, when they come from there."""
    env = os.environ
    from_env = any(env.get(name, "").strip() for name in CREDENTIAL_VARS) or auth.empty
    try:
        built = build_auth(auth)
    except ConfigError as exc:
        where = "environment" if from_env else "config file [auth]"
        return {"source": where, "problem": str(exc)}
    method = _method(built)
    kind, variables, keys = _METHODS[method]
    if from_env:
        used = [name for name in variables if env.get(name, "").strip()]
        where, keys = f"environment ({', '.join(used)})", ()
    else:
        where = "config file [auth]"
    described = {"source": where, "kind": kind, "account": built.account}
    if isinstance(built, OAuth2Auth) and built.client is not None:
        described["token_url"] = built.client.token_url
    if keys:
        described["keys"] = ", ".join(keys)
    return described


def _method(auth: Auth) -> str:
    if isinstance(auth, OAuth1Auth):
        return "oauth1"
    return "bearer" if isinstance(auth, BearerAuth) else "oauth2"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value) if isinstance(value, Path) else value)


def _as_toml(settings: Settings, credentials: dict[str, str]) -> str:
    source = settings.config_file or "none"
    lines = [f"# bulkup effective settings; config file: {source}"]
    for section in SECTIONS[:-1]:
        lines.append(f"\n[{section}]")
        for option in (o for o in OPTIONS if o.section == section):
            value, origin = settings.values[option.key], settings.origins[option.key]
            if value is None:
                lines.append(f"# {option.key}: not set ({origin}): {option.help}")
            else:
                lines.append(f"{option.key} = {_toml(as_written(option, value))}  # {origin}")
    lines.append("\n[auth]")
    lines += [f"# credentials in use: {k}: {v}" for k, v in credentials.items() if k != "keys"]
    lines += [f"{key} = {text}" for key, text in _auth_table(settings, credentials).items()]
    for name, table in sorted(settings.accounts.items()):
        lines.append(f"\n[accounts.{name}]")
        lines += [f"# credentials: {k}: {v}" for k, v in describe_account(table).items()]
        lines += [f"{key} = {text}" for key, text in _entries(table).items()]
    if settings.token_key is not None:
        lines += ["\n[fleet]", f"token_key = {settings.token_key.describe()}"]
    return "\n".join(lines)


def _credentials(settings: Settings, account: str | None) -> dict[str, str]:
    """The credentials a run would use: ``--account``'s table, else the run's own."""
    if account is None:
        return describe_credentials(settings.auth)
    if account not in settings.accounts:
        from bulkup.fleet.accounts import Accounts

        Accounts(settings.auth, settings.accounts, config_file=settings.config_file).auth_for(
            account
        )  # raises UnknownAccount, naming the table to add
    return {"source": f"config file [accounts.{account}]"} | describe_account(
        settings.accounts[account]
    )


def describe_account(table: AuthSettings) -> dict[str, str]:
    """An ``[accounts.NAME]`` table's credentials: the kind and account, or the problem."""
    try:
        built = build_auth(table, use_env=False)
    except ConfigError as exc:
        return {"problem": str(exc)}
    return {"kind": _METHODS[_method(built)][0], "account": built.account}


def _entries(table: AuthSettings) -> dict[str, str]:
    """A table's keys as TOML values, each secret described (never its value)."""
    entries = {key: ref.describe() for key, ref in table.secrets.items()}
    return entries | {key: json.dumps(text) for key, text in table.plain.items()}


def _auth_table(settings: Settings, credentials: dict[str, str]) -> dict[str, str]:
    """The ``[auth]`` entries of the method in use (TOML values, secrets described);
    none when the environment's credentials win, all when none can be built."""
    entries = _entries(settings.auth)
    if "problem" in credentials:
        return entries
    keys = credentials.get("keys", "").split(", ")
    return {key: text for key, text in entries.items() if key in keys}


def _as_json(settings: Settings, credentials: dict[str, str]) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for option in OPTIONS:
        value = settings.values[option.key]
        if isinstance(value, Path):
            value = os.path.abspath(value)  # the file a run would use, wherever it runs
        elif isinstance(value, tuple):
            value = list(value)
        else:
            value = masked(option, value)  # a budget URL's password
        tables.setdefault(option.section, {})[option.key] = {
            "value": value,
            "from": settings.origins[option.key],
        }
    tables["auth"] = {
        key: json.loads(text) if key in settings.auth.plain else text
        for key, text in _auth_table(settings, credentials).items()
    }
    tables["accounts"] = {
        name: {
            "credentials": describe_account(table),
            **{k: json.loads(v) if k in table.plain else v for k, v in _entries(table).items()},
        }
        for name, table in sorted(settings.accounts.items())
    }
    if settings.token_key is not None:
        tables["fleet"] = {"token_key": settings.token_key.describe()}
    file = None if settings.config_file is None else str(settings.config_file)
    return {"config_file": file, "settings": tables, "credentials": credentials}
