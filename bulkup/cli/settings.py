"""The settings of a ``bulkup`` run: defaults < config file < environment < command line.

:data:`OPTIONS` names every setting once: its TOML table and key, its environment
variable (``BULKUP_`` + the key in capitals, e.g. ``BULKUP_CONCURRENCY``), its default and
how a value is read. :func:`resolve` takes, for each setting, the first of: the command
line, the environment, the config file (``--config FILE`` or ``BULKUP_CONFIG``), the
default; it returns one frozen :class:`Settings` that also records where each value
came from, for ``bulkup config show``. Credentials live in the file's ``[auth]`` table,
each secret by reference (see :mod:`bulkup.auth.config`). ``configs/example.toml``
documents every key.

Every bad value is a :class:`~bulkup.errors.ConfigError` naming where it came from
(``--concurrency``, ``$BULKUP_CONCURRENCY``, ``run.toml [upload] concurrency``) and what
would be accepted.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bulkup import redact
from bulkup.auth.config import (
    AuthSettings,
    SecretRef,
    accounts_from_table,
    check_private,
    read_reference,
)
from bulkup.client import config as defaults
from bulkup.client.budget_url import shown as shown_url
from bulkup.client.config import UploadConfig, parse_duration, parse_size
from bulkup.core import session as session_defaults
from bulkup.core import spec
from bulkup.core.retry import DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_WAIT
from bulkup.core.session import DEFAULT_CHUNK_BYTES
from bulkup.errors import ConfigError
from bulkup.logs import Format
from bulkup.sources import SourceOptions
from bulkup.sources.shard import Shard

__all__ = [
    "CONFIG_VAR",
    "OPTIONS",
    "Option",
    "OutputSettings",
    "Settings",
    "as_written",
    "resolve",
]

#: The environment variable naming the config file when ``--config`` is not given.
CONFIG_VAR = "BULKUP_CONFIG"
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "console", "json")

Parser = Callable[[Any, Path], Any]
#: The base of paths given on the command line or in the environment: kept as given.
HERE = Path()


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: ``[section] key`` in TOML, ``BULKUP_KEY``, and ``--key`` on the CLI."""

    key: str
    section: str
    parse: Parser
    default: Any
    help: str

    @property
    def env(self) -> str:
        return "BULKUP_" + self.key.upper()

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")


def _whole(value: Any, base: Path) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"must be a whole number >= 1, got {value!r}")
    return value


def _seconds(value: Any, base: Path) -> float:
    try:
        seconds = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"must be a number of seconds >= 0, got {value!r}")
    return seconds


def _fraction(value: Any, base: Path) -> float:
    """A share above 0 and at most 1: ``0.5``, ``"0.8"``."""
    try:
        share = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        share = math.nan
    if not 0.0 < share <= 1.0:
        raise ValueError(f"must be a number above 0 and at most 1, such as 0.5, got {value!r}")
    return share


def _duration(value: Any, base: Path) -> float:
    """Seconds as a number, or a duration such as ``15m`` or ``1h``."""
    if isinstance(value, str):
        return parse_duration(value)
    return _seconds(value, base)


def _size(value: Any, base: Path) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be a size such as 4MiB or 1048576, got {value!r}")
    return parse_size(value)


def _flag(value: Any, base: Path) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def _auto_flag(value: Any, base: Path) -> bool | None:
    """``true``/``false``, or ``"auto"`` (None: decide from the terminal)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    return None if value is None else _flag(value, base)


def _text(value: Any, base: Path) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {value!r}")
    return value.strip()


def _path(value: Any, base: Path) -> Path | None:
    """A path; relative ones count from ``base``, the config file's folder (or stay as given)."""
    text = _text(str(value) if isinstance(value, os.PathLike) else value, base)
    if text is None:
        return None
    path = Path(text).expanduser()
    return path if path.is_absolute() or base == HERE else base / path


def _endpoint(value: Any, base: Path) -> str | None:
    """A base URL without credentials: bulkup signs every request itself, and a user or
    password in the URL would be stored in the checkpoint and shown by ``status``."""
    text = _text(value, base)
    if text is not None and "@" in urlsplit(text).netloc:
        raise ValueError(
            "must not hold a user or password (user:password@host): bulkup signs requests "
            "with the X_* credentials; give the URL without them"
        )
    return text


def _category(value: Any, base: Path) -> str | None:
    text = _text(value, base)
    return None if text is None else spec.normalize_category(text)


def _choice(*choices: str) -> Parser:
    def parse(value: Any, base: Path) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return parse


def _globs(value: Any, base: Path) -> tuple[str, ...]:
    """A TOML list of glob patterns, or a comma-separated string (environment)."""
    if isinstance(value, str):
        value = [part for part in (p.strip() for p in value.split(",")) if part]
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
        raise ValueError(f"must be a list of glob patterns, got {value!r}")
    return tuple(value)


def _shard(value: Any, base: Path) -> str | None:
    """``I/N``: the I-th of N parts of the items (``"2/4"``), checked, as text."""
    return None if value is None else str(Shard.parse(value))


def _budget(value: Any, base: Path) -> str | None:
    """A Redis URL; a password in it is masked in every output from now on."""
    text = _text(value, base)
    if text is not None:
        redact.register([urlsplit(text).password])
    return text


def _port(value: Any, base: Path) -> int | None:
    """A TCP port, 1 to 65535 (``--metrics-port``)."""
    if value is None:
        return None
    port = _whole(value, base)
    if port > 65535:
        raise ValueError(f"must be a port from 1 to 65535, got {value!r}")
    return port


def _opt(key: str, section: str, parse: Parser, default: Any, help: str) -> Option:
    return Option(key, section, parse, default, help)


OPTIONS: tuple[Option, ...] = (
    _opt("api", "upload", _choice(*spec.DIALECTS), "v2", "API dialect"),
    _opt("endpoint", "upload", _endpoint, None, "base URL; none means the real API host"),
    _opt("concurrency", "upload", _whole, defaults.DEFAULT_CONCURRENCY, "requests in flight"),
    _opt(
        "files_in_flight",
        "upload",
        _whole,
        defaults.DEFAULT_FILES_IN_FLIGHT,
        "files between INIT and FINALIZE",
    ),
    _opt(
        "segments_per_file",
        "upload",
        _whole,
        defaults.DEFAULT_SEGMENTS_PER_FILE,
        "APPENDs in flight per file",
    ),
    _opt("chunk_size", "upload", _size, DEFAULT_CHUNK_BYTES, "chunk size, at most 5MiB"),
    _opt("category", "upload", _category, None, "media_category for items that name none"),
    _opt("strategy", "upload", _choice("auto", "chunked", "simple"), "auto", "upload strategy"),
    _opt("max_attempts", "upload", _whole, DEFAULT_MAX_ATTEMPTS, "tries per request"),
    _opt(
        "processing_timeout",
        "upload",
        _seconds,
        session_defaults.DEFAULT_PROCESSING_TIMEOUT,
        "seconds to wait for server-side processing",
    ),
    _opt(
        "max_wait",
        "upload",
        _duration,
        DEFAULT_MAX_WAIT,
        "longest wait for a rate limit to reset; past it the rest waits for a later run",
    ),
    _opt(
        "budget_fraction",
        "upload",
        _fraction,
        1.0,
        "share of each rate limit to spend (0.5 leaves half to other clients)",
    ),
    _opt(
        "budget",
        "upload",
        _budget,
        None,
        "redis:// or rediss:// URL of a budget shared with every process naming it",
    ),
    _opt(
        "stall_timeout",
        "upload",
        _duration,
        defaults.DEFAULT_STALL_TIMEOUT,
        "stop the run when requests are outstanding and none is answered this long (0: never)",
    ),
    _opt("preflight", "upload", _flag, True, "check files against the media rules first"),
    _opt("checkpoint", "upload", _path, None, "JSON checkpoint to resume from"),
    _opt(
        "report",
        "upload",
        _path,
        None,
        "JSON Lines report; none: standard output when not a terminal (a terminal gets "
        "one line per item)",
    ),
    _opt("posts", "upload", _path, None, "JSON Lines file of post groups and their media ids"),
    _opt(
        "shard",
        "upload",
        _shard,
        None,
        "I/N: upload only the I-th of N parts of the items (by a hash of each id), e.g. 2/4",
    ),
    _opt(
        "metrics_port",
        "upload",
        _port,
        None,
        "serve the run's Prometheus metrics on this port (every interface), /metrics",
    ),
    _opt("include", "sources", _globs, (), "only matching files of scanned directories"),
    _opt("exclude", "sources", _globs, (), "skip matching files of scanned directories"),
    _opt("hidden", "sources", _flag, False, "include dot-files of scanned directories"),
    _opt(
        "follow_symlinks",
        "sources",
        _flag,
        False,
        "scan the folders that symlinks in scanned directories lead to",
    ),
    _opt("progress", "output", _auto_flag, None, "live progress: true, false or auto"),
    _opt("quiet", "output", _flag, False, "no progress display"),
    _opt("log_level", "output", _choice(*LOG_LEVELS), "warning", "events logged on stderr"),
    _opt("log_format", "output", _choice(*LOG_FORMATS), "auto", "console, json or auto"),
    _opt("ca_bundle", "tls", _path, None, "trust this CA certificate file"),
    _opt("insecure", "tls", _flag, False, "do not verify TLS certificates (warns)"),
    _opt(
        "allow_plain_http",
        "tls",
        _flag,
        False,
        "send credentials over plain http:// to a host other than this machine",
    ),
)
OPTION = {option.key: option for option in OPTIONS}
SECTIONS = ("upload", "sources", "output", "tls", "auth")
#: Tables beside :data:`SECTIONS`: ``[accounts.NAME]`` (the keys of ``[auth]``, per
#: account) and ``[fleet]`` (``token_key``: the Fernet key of tokens shared in Redis).
FLEET_TABLES = ("accounts", "fleet")
#: ``[fleet]`` keys read here rather than through :data:`OPTIONS` (secrets by reference).
FLEET_SECRETS = ("token_key",)


def as_written(option: Option, value: Any) -> Any:
    """``value`` of ``option`` as a user writes it, which its parser reads back to the
    same value: sizes in KiB or MiB (``"4MiB"``), durations in h, m and s (``"15m"``),
    whole seconds without ``.0``, paths absolute (a config file elsewhere reads them
    the same), a budget URL's password masked (``***``). Anything else as it is."""
    if value is None or isinstance(value, bool):
        return value
    if option.parse is _size:
        return _size_text(value)
    if option.parse is _duration and value > 0:
        return _duration_text(value)
    if option.parse in (_seconds, _duration) and float(value).is_integer():
        return int(value)
    if option.parse is _path:
        return os.path.abspath(value)
    if option.parse is _budget:
        return shown_url(value)
    return value


def masked(option: Option, value: Any) -> Any:
    """``value`` fit to show: a budget URL's password masked (``***``)."""
    return shown_url(value) if option.parse is _budget and value is not None else value


def _size_text(count: int) -> str | int:
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count % size == 0:
            return f"{count // size}{unit}"
    return count


def _duration_text(seconds: float) -> str | float:
    if not float(seconds).is_integer():
        return seconds
    left, text = int(seconds), ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            text += f"{left // size}{unit}"
            left %= size
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputSettings:
    """What a run shows: progress (None: when stderr is a terminal) and logs."""

    progress: bool | None = None
    quiet: bool = False
    log_level: str = "warning"
    log_format: Format = "auto"

    def __post_init__(self) -> None:
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"log_format must be one of {', '.join(LOG_FORMATS)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The effective settings of one run, and where each came from."""

    upload: UploadConfig
    sources: SourceOptions
    output: OutputSettings
    auth: AuthSettings
    #: ``[accounts.NAME]`` tables, by name (the same keys as ``[auth]``).
    accounts: Mapping[str, AuthSettings] = field(default_factory=dict)
    #: ``[fleet] token_key``: the Fernet key of OAuth 2.0 tokens shared in Redis.
    token_key: SecretRef | None = None
    checkpoint: Path | None = None
    report: Path | None = None
    posts: Path | None = None
    #: ``--shard I/N``: only this part of the items is uploaded and reported.
    shard: Shard | None = None
    #: ``--metrics-port``: the run's Prometheus metrics are served on this port.
    metrics_port: int | None = None
    #: Credentials may go over plain http:// to a host other than this machine.
    allow_plain_http: bool = False
    #: The config file read, if any.
    config_file: Path | None = None
    #: Every option's effective value, by key.
    values: Mapping[str, Any] = field(default_factory=dict)
    #: Where each value came from: ``default``, ``$BULKUP_X``, ``FILE [section]``, ``--x``.
    origins: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A parsed config file: its tables, checked for unknown sections and keys."""

    path: Path | None
    tables: Mapping[str, Mapping[str, Any]]

    @classmethod
    def load(cls, path: Path) -> ConfigFile:
        try:
            with path.open("rb") as fh:
                doc = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(
                f"config file {path} not found (named by --config or ${CONFIG_VAR})"
            ) from None
        except IsADirectoryError:
            raise ConfigError(f"config file {path} is a directory, not a TOML file") from None
        except PermissionError:
            raise ConfigError(f"config file {path} cannot be read (permission denied)") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None
        return cls(path, _check_tables(path, doc))

    def origin(self, section: str) -> str:
        return f"{self.path} [{section}]"


def _check_tables(path: Path, doc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    tables: dict[str, Mapping[str, Any]] = {}
    for section, table in doc.items():
        if section not in SECTIONS + FLEET_TABLES:
            names = ", ".join(f"[{s}]" for s in SECTIONS + FLEET_TABLES[1:])
            raise ConfigError(
                f"config file {path}: unknown table [{section}]; "
                f"the tables are {names} and [accounts.NAME]"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"config file {path}: {section} must be a table: [{section}]")
        tables[section] = table
    for section, table in tables.items():
        if section in ("auth", "accounts"):
            continue  # AuthSettings checks its own keys
        known = [o.key for o in OPTIONS if o.section == section]
        known += list(FLEET_SECRETS) if section == "fleet" else []
        for key in table:
            if key not in known:
                hint = _where_else(key)
                raise ConfigError(
                    f"config file {path}: unknown key {key!r} in [{section}]{hint}; "
                    f"[{section}] takes {', '.join(known)}"
                )
    return tables


def _where_else(key: str) -> str:
    option = OPTION.get(key)
    return f" (it belongs in [{option.section}])" if option else ""


def resolve(
    cli: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> Settings:
    """The effective settings: ``cli`` values (None = not given) > environment > file."""
    env = os.environ if environ is None else environ
    cli = cli or {}
    named = config_file if config_file is not None else (env.get(CONFIG_VAR) or None)
    doc = ConfigFile.load(Path(named).expanduser()) if named else ConfigFile(None, {})
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for option in OPTIONS:
        values[option.key], origins[option.key] = _value(option, cli, env, doc)
    auth = AuthSettings.from_table(
        doc.tables.get("auth", {}), doc.path, endpoint=values["endpoint"]
    )
    accounts = accounts_from_table(
        doc.tables.get("accounts", {}), doc.path, endpoint=values["endpoint"]
    )
    token_key = _token_key(doc)
    inline = [*auth.inline_secrets]
    inline += [f"{a.table}.{key}" for a in accounts.values() for key in a.inline_secrets]
    inline += ["fleet.token_key"] if token_key is not None and token_key.kind == "inline" else []
    if doc.path is not None and inline:
        check_private(doc.path, what="config file", holds=tuple(inline))
    built = _build(values, origins, auth, doc.path)
    return replace(built, accounts=accounts, token_key=token_key)


def _token_key(doc: ConfigFile) -> SecretRef | None:
    table = doc.tables.get("fleet", {})
    if "token_key" not in table:
        return None
    assert doc.path is not None
    return read_reference("token_key", table["token_key"], doc.path.parent, doc.path, table="fleet")


def _value(
    option: Option, cli: Mapping[str, Any], env: Mapping[str, str], doc: ConfigFile
) -> tuple[Any, str]:
    table = doc.tables.get(option.section, {})
    if cli.get(option.key) is not None:
        raw, origin, base = cli[option.key], option.flag, HERE
    elif env.get(option.env, "").strip():
        raw, origin, base = env[option.env], f"${option.env}", HERE
    elif option.key in table:
        assert doc.path is not None
        raw, origin, base = table[option.key], doc.origin(option.section), doc.path.parent
    else:
        return option.default, "default"
    try:
        return option.parse(raw, base), origin
    except ValueError as exc:
        raise ConfigError(f"{origin}: {option.key} {exc}") from None


def _named(origins: Mapping[str, str], key: str) -> str:
    """Where ``key`` was set, naming it: ``--ca-bundle``, ``$BULKUP_CA_BUNDLE``,
    ``run.toml [tls] ca_bundle``."""
    origin = origins[key]
    return origin if origin.startswith(("--", "$")) else f"{origin} {key}"


def _build(
    values: Mapping[str, Any], origins: Mapping[str, str], auth: AuthSettings, path: Path | None
) -> Settings:
    if values["insecure"] and values["ca_bundle"] is not None:
        insecure, bundle = _named(origins, "insecure"), _named(origins, "ca_bundle")
        raise ConfigError(
            f"{insecure} and {bundle} contradict each other: the first turns certificate "
            "checks off, the second checks them against that CA; give only one"
        )
    try:
        upload = UploadConfig(
            api=values["api"],
            endpoint=values["endpoint"],
            concurrency=values["concurrency"],
            files_in_flight=values["files_in_flight"],
            segments_per_file=values["segments_per_file"],
            chunk_size=values["chunk_size"],
            category=values["category"],
            strategy=values["strategy"],
            max_attempts=values["max_attempts"],
            processing_timeout=values["processing_timeout"],
            max_wait=values["max_wait"],
            stall_timeout=values["stall_timeout"],
            budget_fraction=values["budget_fraction"],
            budget=values["budget"],
            preflight=values["preflight"],
            verify_tls=not values["insecure"],
            ca_bundle=None if values["ca_bundle"] is None else str(values["ca_bundle"]),
        )
    except ConfigError as exc:
        key = str(exc).split(" ", 1)[0]
        raise ConfigError(f"{origins[key]}: {exc}" if key in origins else str(exc)) from None
    return Settings(
        upload=upload,
        sources=SourceOptions(
            include=values["include"],
            exclude=values["exclude"],
            hidden=values["hidden"],
            follow_symlinks=values["follow_symlinks"],
            default_category=upload.category,
        ),
        output=OutputSettings(
            progress=values["progress"],
            quiet=values["quiet"],
            log_level=values["log_level"],
            log_format=values["log_format"],
        ),
        auth=auth,
        checkpoint=values["checkpoint"],
        report=values["report"],
        posts=values["posts"],
        shard=None if values["shard"] is None else Shard.parse(values["shard"]),
        metrics_port=values["metrics_port"],
        allow_plain_http=values["allow_plain_http"],
        config_file=path,
        values=dict(values),
        origins=dict(origins),
    )
