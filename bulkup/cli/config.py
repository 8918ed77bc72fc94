"""``bulkup config show``: the effective settings, where each came from, secrets masked.

The output is TOML (each value followed by a comment naming its origin), so it can
seed a config file; ``--json`` prints the same as one JSON object. Credentials are
described, never shown: which kind, where each secret comes from, and the account
fingerprint the checkpoint records.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bulkup.auth.config import AuthSettings, build_auth
from bulkup.auth.credentials import CREDENTIAL_VARS
from bulkup.auth.oauth2 import OAuth2Auth
from bulkup.cli.settings import OPTIONS, SECTIONS, Settings
from bulkup.errors import ConfigError

__all__ = ["add_config", "run_config_show"]

EXIT_OK, EXIT_USAGE = 0, 2


def add_config(commands: Any) -> None:
    from bulkup.cli.upload import add_settings_options

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
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=run_config_show)


def run_config_show(args: argparse.Namespace) -> int:
    from bulkup.cli.upload import settings_from_args

    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"bulkup config show: {exc}", file=sys.stderr)
        return EXIT_USAGE
    credentials = describe_credentials(settings.auth)
    if args.json:
        print(json.dumps(_as_json(settings, credentials), indent=2))
    else:
        print(_as_toml(settings, credentials))
    return EXIT_OK


def describe_credentials(auth: AuthSettings) -> dict[str, str]:
    """Which credentials a run would use, and the account; no secret value."""
    env = os.environ
    from_env = [name for name in CREDENTIAL_VARS if env.get(name, "").strip()]
    where = f"environment ({', '.join(from_env)})" if from_env else "config file [auth]"
    try:
        built = build_auth(auth)
    except ConfigError as exc:
        return {"source": where, "problem": str(exc)}
    account = built.account
    kinds = {"oauth1": "OAuth 1.0a", "bearer": "OAuth 2.0 bearer token"}
    kind = kinds.get(account.split(":")[0], "OAuth 2.0 token, renewed when it expires")
    described = {"source": where, "kind": kind, "account": account}
    if isinstance(built, OAuth2Auth) and built.client is not None:
        described["token_url"] = built.client.token_url
    return described


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
                lines.append(f"{option.key} = {_toml(value)}  # {origin}")
    lines.append("\n[auth]")
    for key, ref in settings.auth.secrets.items():
        lines.append(f"{key} = {ref.describe()}")
    for key, text in settings.auth.plain.items():
        lines.append(f"{key} = {json.dumps(text)}")
    lines += [f"# credentials in use: {k}: {v}" for k, v in credentials.items()]
    return "\n".join(lines)


def _as_json(settings: Settings, credentials: dict[str, str]) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for option in OPTIONS:
        value = settings.values[option.key]
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        tables.setdefault(option.section, {})[option.key] = {
            "value": value,
            "from": settings.origins[option.key],
        }
    tables["auth"] = {
        **{key: ref.describe() for key, ref in settings.auth.secrets.items()},
        **settings.auth.plain,
    }
    file = None if settings.config_file is None else str(settings.config_file)
    return {"config_file": file, "settings": tables, "credentials": credentials}
