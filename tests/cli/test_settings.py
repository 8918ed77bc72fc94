"""Settings: precedence, origins, clear errors, secrets by reference, private files.

The unit tests call :func:`bulkup.cli.settings.resolve` directly; the end-to-end tests run
``bulkup upload --config`` and ``bulkup config show`` as a user does, against the
emulator on a real socket, and check what landed byte for byte.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import tomllib
from pathlib import Path

import pytest

from bulkup.auth.config import build_auth
from bulkup.auth.credentials import BearerAuth, OAuth1Auth
from bulkup.cli import build_parser
from bulkup.cli.settings import OPTIONS, Settings, resolve
from bulkup.client.config import UploadConfig
from bulkup.core import spec
from bulkup.core.dialects import DEFAULT_ENDPOINTS, dialect_for
from bulkup.emulator import Emulator
from bulkup.errors import ConfigError
from bulkup.media import samples
from tests.cli.test_cli_upload import bulkup, env_for, requests

EXAMPLE = Path(__file__).parents[2] / "configs" / "example.toml"


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


# --- precedence and origins --------------------------------------------------------------
def test_the_command_line_beats_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    config = write(
        tmp_path / "run.toml",
        '[upload]\nconcurrency = 3\nfiles_in_flight = 5\nsegments_per_file = 6\napi = "v1.1"\n',
    )
    env = {"BULKUP_CONCURRENCY": "11", "BULKUP_FILES_IN_FLIGHT": "12"}

    settings = resolve({"concurrency": 21}, environ=env, config_file=config)

    assert settings.upload.concurrency == 21
    assert settings.upload.files_in_flight == 12
    assert settings.upload.segments_per_file == 6
    assert settings.upload.api == "v1.1"
    assert settings.upload.max_attempts == 8  # the default
    assert settings.origins["concurrency"] == "--concurrency"
    assert settings.origins["files_in_flight"] == "$BULKUP_FILES_IN_FLIGHT"
    assert settings.origins["segments_per_file"] == f"{config} [upload]"
    assert settings.origins["max_attempts"] == "default"


def test_the_config_file_can_be_named_by_bulkup_config(tmp_path: Path) -> None:
    config = write(tmp_path / "run.toml", "[sources]\nhidden = true\nexclude = ['*.tmp']\n")

    settings = resolve({}, environ={"BULKUP_CONFIG": str(config)})

    assert settings.config_file == config
    assert settings.sources.hidden is True
    assert settings.sources.exclude == ("*.tmp",)


@pytest.mark.parametrize(
    ("given", "seconds"),
    [("600", 600.0), ("10m", 600.0), ("1h", 3600.0), ("90s", 90.0), ("0", 0.0)],
)
def test_the_stall_timeout_takes_a_duration_from_each_source(
    tmp_path: Path, given: str, seconds: float
) -> None:
    config = write(tmp_path / "run.toml", f'[upload]\nstall_timeout = "{given}"\n')
    parser = build_parser()
    args = parser.parse_args(["upload", "x", "--stall-timeout", given])
    assert (
        resolve({"stall_timeout": args.stall_timeout}, environ={}).upload.stall_timeout == seconds
    )
    assert resolve({}, environ={"BULKUP_STALL_TIMEOUT": given}).upload.stall_timeout == seconds
    assert resolve({}, environ={}, config_file=config).upload.stall_timeout == seconds
    assert resolve({}, environ={}).upload.stall_timeout == 600.0  # ten minutes by default
    with pytest.raises(ConfigError, match=r"\$BULKUP_STALL_TIMEOUT: stall_timeout not a duration"):
        resolve({}, environ={"BULKUP_STALL_TIMEOUT": "forever"})


def test_the_budget_fraction_comes_from_each_source_and_a_bad_one_names_where(
    tmp_path: Path,
) -> None:
    config = write(tmp_path / "run.toml", "[upload]\nbudget_fraction = 0.25\n")
    args = build_parser().parse_args(["upload", "x", "--budget-fraction", "0.5"])
    given = {"budget_fraction": args.budget_fraction}
    assert resolve(given, environ={}).upload.budget_fraction == 0.5
    assert resolve({}, environ={"BULKUP_BUDGET_FRACTION": "0.8"}).upload.budget_fraction == 0.8
    assert resolve({}, environ={}, config_file=config).upload.budget_fraction == 0.25
    assert resolve({}, environ={}).upload.budget_fraction == 1.0
    with pytest.raises(ConfigError, match=r"--budget-fraction.*above 0 and at most 1.*0\.5"):
        resolve({"budget_fraction": "2"}, environ={})


def test_without_any_source_every_setting_is_its_default() -> None:
    settings = resolve({}, environ={})

    assert settings.config_file is None
    assert set(settings.origins.values()) == {"default"}
    assert settings.upload.chunk_size == 4 * 1024 * 1024
    assert settings.output.log_level == "warning"


def test_environment_values_are_parsed_like_options(tmp_path: Path) -> None:
    env = {
        "BULKUP_CHUNK_SIZE": "1MiB",
        "BULKUP_PREFLIGHT": "false",
        "BULKUP_INCLUDE": "*.jpg, *.png",
        "BULKUP_PROGRESS": "auto",
        "BULKUP_INSECURE": "yes",
        "BULKUP_PROCESSING_TIMEOUT": "30.5",
    }

    settings = resolve({}, environ=env)

    assert settings.upload.chunk_size == 1 << 20
    assert settings.upload.preflight is False
    assert settings.sources.include == ("*.jpg", "*.png")
    assert settings.output.progress is None
    assert settings.upload.verify_tls is False
    assert settings.upload.processing_timeout == 30.5


def test_relative_paths_in_the_file_count_from_its_folder(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    config = write(tmp_path / "conf" / "run.toml", '[upload]\ncheckpoint = "state/run.ckpt"\n')

    from_file = resolve({}, environ={}, config_file=config)
    from_cli = resolve({"checkpoint": Path("here.ckpt")}, environ={}, config_file=config)

    assert from_file.checkpoint == tmp_path / "conf" / "state" / "run.ckpt"
    assert from_cli.checkpoint == Path("here.ckpt")


def test_settings_are_frozen() -> None:
    settings = resolve({}, environ={})

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.checkpoint = Path("x")  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.upload.concurrency = 1  # type: ignore[misc]


# --- one list of dialects ---------------------------------------------------------------
def api_choices(parser: argparse.ArgumentParser) -> list[tuple[str, ...]]:
    """The choices of every ``--api`` option of ``parser`` and its commands."""
    found = []
    for action in parser._actions:
        if "--api" in action.option_strings:
            found.append(tuple(action.choices or ()))
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                found += api_choices(command)
    return found


def test_every_place_that_takes_a_dialect_takes_the_names_in_spec() -> None:
    assert tuple(DEFAULT_ENDPOINTS) == spec.DIALECTS
    choices = api_choices(build_parser())
    assert len(choices) >= 2 and set(choices) == {spec.DIALECTS}  # upload, demo, ...
    for name in spec.DIALECTS:
        assert UploadConfig(api=name).base_url == DEFAULT_ENDPOINTS[name]
        assert dialect_for(name).name == name
        assert resolve(environ={"BULKUP_API": name}).upload.api == name
    with pytest.raises(ConfigError, match=r"api must be 'v1.1' or 'v2', got 'v3'"):
        UploadConfig(api="v3")  # type: ignore[arg-type]


# --- bad values ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[upload]\nconcurrency = 0\n", "[upload]: concurrency must be a whole number >= 1"),
        ('[upload]\nchunk_size = "9MiB"\n', "chunk_size must be between 1 and"),
        ('[upload]\napi = "v3"\n', "api must be one of v1.1, v2, got 'v3'"),
        ('[upload]\ncategory = "bogus"\n', "unknown media_category 'bogus'"),
        ("[upload]\nconcurency = 4\n", "unknown key 'concurency' in [upload]"),
        ("[upload]\nhidden = true\n", "(it belongs in [sources])"),
        ("[uplaod]\nconcurrency = 4\n", "unknown table [uplaod]"),
        ("[upload\n", "not valid TOML"),
        ('[output]\nlog_level = "loud"\n', "log_level must be one of debug"),
        ("[sources]\ninclude = 5\n", "include must be a list of glob patterns"),
        ('[auth]\napi_key = { vault = "x" }\n', 'give the secret as { env = "VARIABLE" }'),
        ("[auth]\npassword = 'x'\n", "unknown key 'password'"),
    ],
)
def test_a_bad_file_value_is_an_error_naming_the_file_and_the_fix(
    tmp_path: Path, text: str, expected: str
) -> None:
    config = write(tmp_path / "run.toml", text)

    with pytest.raises(ConfigError) as caught:
        resolve({}, environ={}, config_file=config)

    assert expected in str(caught.value)
    assert str(config) in str(caught.value)


def test_a_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"\$BULKUP_MAX_ATTEMPTS: max_attempts must be"):
        resolve({}, environ={"BULKUP_MAX_ATTEMPTS": "many"})


def test_a_missing_config_file_is_named_with_where_it_was_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.toml not found \(named by --config or"):
        resolve({}, environ={"BULKUP_CONFIG": str(tmp_path / "nowhere.toml")})


# --- secrets ---------------------------------------------------------------------------
INLINE = '[auth]\napi_key = "key-1234"\napi_secret = "secret-value-5678"\n'


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_config_file_with_inline_secrets_that_others_can_read_is_refused(
    tmp_path: Path, mode: int
) -> None:
    config = write(tmp_path / "run.toml", INLINE, mode)

    with pytest.raises(ConfigError) as caught:
        resolve({}, environ={}, config_file=config)

    message = str(caught.value)
    assert f"chmod 600 {config}" in message
    assert "api_key, api_secret" in message
    assert f"mode {mode:04o}" in message
    assert "secret-value-5678" not in message


def test_a_private_config_file_may_hold_inline_secrets(tmp_path: Path) -> None:
    config = write(tmp_path / "run.toml", INLINE, 0o600)

    settings = resolve({}, environ={}, config_file=config)

    assert settings.auth.inline_secrets == ("api_key", "api_secret")
    assert "secret-value-5678" not in repr(settings)


def test_a_readable_config_file_may_name_secrets_by_reference(tmp_path: Path) -> None:
    config = write(tmp_path / "run.toml", '[auth]\nbearer_token = { env = "MY_TOKEN" }\n', 0o644)

    settings = resolve({}, environ={}, config_file=config)
    auth = build_auth(settings.auth, {"MY_TOKEN": "bearer-value-1234"})

    assert isinstance(auth, BearerAuth)
    assert auth.token == "bearer-value-1234"


def test_a_secret_file_that_others_can_read_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "token", "bearer-value-1234\n", 0o644)
    config = write(tmp_path / "run.toml", '[auth]\nbearer_token = { file = "token" }\n', 0o644)
    settings = resolve({}, environ={}, config_file=config)

    with pytest.raises(ConfigError, match=r"chmod 600 .*token") as caught:
        build_auth(settings.auth, {})
    assert "bearer-value-1234" not in str(caught.value)

    (tmp_path / "token").chmod(0o600)
    assert build_auth(settings.auth, {}).header("POST", "u", None) == "Bearer bearer-value-1234"


def test_the_environment_credentials_beat_the_file(tmp_path: Path) -> None:
    config = write(tmp_path / "run.toml", INLINE, 0o600)
    settings = resolve({}, environ={}, config_file=config)

    auth = build_auth(settings.auth, {"X_BEARER_TOKEN": "from-the-environment"})

    assert isinstance(auth, BearerAuth)
    assert auth.token == "from-the-environment"


def test_incomplete_oauth1_in_the_file_names_what_is_missing(tmp_path: Path) -> None:
    config = write(tmp_path / "run.toml", INLINE, 0o600)
    settings = resolve({}, environ={}, config_file=config)

    with pytest.raises(ConfigError, match="not access_token, access_token_secret"):
        build_auth(settings.auth, {})


def test_a_reference_to_an_unset_variable_names_it(tmp_path: Path) -> None:
    config = write(tmp_path / "run.toml", '[auth]\nbearer_token = { env = "NOPE_TOKEN" }\n')
    settings = resolve({}, environ={}, config_file=config)

    with pytest.raises(ConfigError, match=r"bearer_token names \$NOPE_TOKEN, which is not set"):
        build_auth(settings.auth, {})


# --- the example file ------------------------------------------------------------------
def test_the_example_file_documents_every_key_and_resolves() -> None:
    documented: dict[str, set[str]] = {}
    section = ""
    for line in EXAMPLE.read_text().splitlines():  # the commented-out keys count too
        if heading := re.fullmatch(r"\[(\w+)\]", line.strip()):
            section = heading[1]
        elif key := re.match(r"#? ?(\w+) = ", line):
            documented.setdefault(section, set()).add(key[1])

    for option in OPTIONS:
        assert option.key in documented.get(option.section, set()), option.key
    assert tomllib.loads(EXAMPLE.read_text())  # valid TOML as shipped
    settings = resolve({}, environ={}, config_file=EXAMPLE)
    assert isinstance(settings, Settings)
    assert isinstance(build_auth(settings.auth, env_for_oauth1()), OAuth1Auth), (
        "the example's [auth] names the X_* variables"
    )


def env_for_oauth1() -> dict[str, str]:
    return {"X_API_KEY": "k" * 8, "X_API_SECRET": "s" * 8} | {
        "X_ACCESS_TOKEN": "t" * 8,
        "X_ACCESS_TOKEN_SECRET": "u" * 8,
    }


# --- end to end ------------------------------------------------------------------------
def oauth1_config(emu: Emulator, folder: Path, *, extra: str = "") -> Path:
    """A 0600 config file holding the emulator user's credentials inline."""
    user = emu.user
    (folder / "secret").write_text(user.access_token_secret)
    (folder / "secret").chmod(0o600)
    return write(
        folder / "bulkup.toml",
        f'[upload]\nendpoint = "{emu.url}"\nchunk_size = "4KiB"\nreport = "out/report.jsonl"\n'
        f"{extra}"
        f'[auth]\napi_key = "{user.consumer_key}"\napi_secret = "{user.consumer_secret}"\n'
        f'access_token = {{ env = "MY_ACCESS_TOKEN" }}\n'
        f'access_token_secret = {{ file = "secret" }}\n',
    )


@pytest.mark.anyio
async def test_an_upload_configured_only_by_the_file_lands_byte_exact(
    emulator: Emulator, tmp_path: Path
) -> None:
    media = samples.write_video(tmp_path / "clip.mp4", width=64, height=64, seconds=1)
    (tmp_path / "out").mkdir()
    config = oauth1_config(emulator, tmp_path)
    env = env_for(None) | {"MY_ACCESS_TOKEN": emulator.user.access_token}

    run = await bulkup("upload", media, "--config", config, env=env, cwd=tmp_path.parent)

    assert run.code == 0, run.err
    (line,) = map(json.loads, (tmp_path / "out" / "report.jsonl").read_text().splitlines())
    stored = emulator.media(line["media_id_string"])
    assert stored is not None
    assert stored["sha256"] == hashlib.sha256(media.read_bytes()).hexdigest()
    assert sum(requests(emulator)["append"].values()) >= 2  # 4 KiB chunks, from the file


@pytest.mark.anyio
async def test_an_upload_refuses_a_readable_config_file_with_secrets_and_sends_nothing(
    emulator: Emulator, tmp_path: Path
) -> None:
    media = samples.write_image(tmp_path / "a.png", fmt="png")
    config = oauth1_config(emulator, tmp_path)
    config.chmod(0o644)

    run = await bulkup("upload", media, "--config", config, env=env_for(None), cwd=tmp_path)

    assert run.code == 2
    assert f"chmod 600 {config}" in run.err
    assert emulator.user.consumer_secret not in run.err
    assert "Traceback" not in run.err
    assert requests(emulator) == {}


@pytest.mark.anyio
async def test_config_show_prints_effective_values_with_origins_and_masks_secrets(
    emulator: Emulator, tmp_path: Path
) -> None:
    config = oauth1_config(emulator, tmp_path, extra="concurrency = 3\n")
    env = env_for(None) | {
        "BULKUP_CONFIG": str(config),
        "BULKUP_FILES_IN_FLIGHT": "2",
        "MY_ACCESS_TOKEN": emulator.user.access_token,
        "BULKUP_BUDGET": "redis://:budget-password@budget.internal:6379/0",
    }

    text = await bulkup("config", "show", "--segments-per-file", "7", env=env)
    shown = await bulkup("config", "show", "--json", env=env)

    assert text.code == 0, text.err
    assert f"concurrency = 3  # {config} [upload]" in text.out
    assert "files_in_flight = 2  # $BULKUP_FILES_IN_FLIGHT" in text.out
    assert "segments_per_file = 7  # --segments-per-file" in text.out
    assert 'api_secret = "***"' in text.out
    assert 'access_token = { env = "MY_ACCESS_TOKEN" }' in text.out
    user = emulator.user
    for secret in (user.consumer_secret, user.access_token, user.access_token_secret):
        assert secret not in text.out + shown.out
    assert "budget-password" not in text.out + shown.out
    data = json.loads(shown.out)
    budget = data["settings"]["upload"]["budget"]["value"]
    assert budget == "redis://:***@budget.internal:6379/0"
    assert data["settings"]["upload"]["concurrency"] == {"value": 3, "from": f"{config} [upload]"}
    assert data["credentials"]["kind"] == "OAuth 1.0a"
    assert data["credentials"]["account"].startswith("oauth1:")
    assert requests(emulator) == {}


OAUTH1_ENV = {
    "X_API_KEY": "key",
    "X_API_SECRET": "api-secret-value",
    "X_ACCESS_TOKEN": "token",
    "X_ACCESS_TOKEN_SECRET": "token-secret-value",
}


@pytest.mark.anyio
async def test_config_show_writes_sizes_and_durations_as_users_do_and_reads_them_back(
    tmp_path: Path,
) -> None:
    """Before: ``chunk_size = 4194304`` and ``max_wait = 900.0``."""
    env = env_for(None) | OAUTH1_ENV
    options = ["--chunk-size", "1536KiB", "--max-wait", "1h30m", "--stall-timeout", "0"]
    options += ["--checkpoint", "state/run.ckpt", "--include", "**/*.jpg"]
    default = await bulkup("config", "show", env=env, cwd=tmp_path)
    shown = await bulkup("config", "show", *options, env=env, cwd=tmp_path)
    exact = await bulkup("config", "show", *options, "--json", env=env, cwd=tmp_path)
    (tmp_path / "elsewhere").mkdir()  # relative paths would count from the file's folder
    printed = write(tmp_path / "elsewhere" / "printed.toml", shown.out)

    again = await bulkup("config", "show", "--config", printed, "--json", env=env, cwd=tmp_path)

    assert default.code == shown.code == exact.code == again.code == 0, again.err
    assert 'chunk_size = "4MiB"  # default' in default.out
    assert 'max_wait = "15m"  # default' in default.out
    assert 'stall_timeout = "10m"  # default' in default.out
    assert "processing_timeout = 900  # default" in default.out
    assert 'chunk_size = "1536KiB"  # --chunk-size' in shown.out
    assert 'max_wait = "1h30m"  # --max-wait' in shown.out
    tomllib.loads(shown.out)  # valid TOML
    first, second = json.loads(exact.out)["settings"], json.loads(again.out)["settings"]
    values = {t: {k: v["value"] for k, v in keys.items()} for t, keys in first.items()}
    assert {t: {k: v["value"] for k, v in keys.items()} for t, keys in second.items()} == values
    assert values["upload"]["chunk_size"] == 1536 * 1024 and values["upload"]["max_wait"] == 5400
    assert values["upload"]["checkpoint"] == str(tmp_path / "state" / "run.ckpt")
    assert second["upload"]["chunk_size"]["from"] == f"{printed} [upload]"


@pytest.mark.anyio
async def test_config_show_lists_only_the_credentials_of_the_method_in_use(tmp_path: Path) -> None:
    """Before: with OAuth 1.0a in use, X_BEARER_TOKEN was listed as a credential too."""
    env = env_for(None) | OAUTH1_ENV | {"X_BEARER_TOKEN": "bearer-value"}
    config = write(
        tmp_path / "run.toml",
        '[auth]\napi_key = "k"\napi_secret = "s"\naccess_token = "t"\n'
        'access_token_secret = "ts"\nbearer_token = { env = "MY_BEARER" }\n',
    )

    from_env = await bulkup("config", "show", env=env, cwd=tmp_path)
    from_file = await bulkup("config", "show", "--config", config, env=env_for(None))
    as_json = await bulkup("config", "show", "--config", config, "--json", env=env_for(None))

    assert from_env.code == from_file.code == as_json.code == 0, from_file.err
    assert "kind: OAuth 1.0a" in from_env.out and "kind: OAuth 1.0a" in from_file.out
    assert "X_BEARER_TOKEN" not in from_env.out and "bearer" not in from_file.out
    assert "X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET" in from_env.out
    assert 'api_secret = "***"' in from_file.out and 'access_token_secret = "***"' in from_file.out
    assert "bearer_token" not in as_json.out
    assert set(json.loads(as_json.out)["settings"]["auth"]) == {
        "api_key",
        "api_secret",
        "access_token",
        "access_token_secret",
    }
    for secret in ("bearer-value", "api-secret-value", "token-secret-value"):
        assert secret not in from_env.out + from_file.out + as_json.out


@pytest.mark.anyio
async def test_an_invalid_environment_value_stops_the_upload_before_any_request(
    emulator: Emulator, tmp_path: Path
) -> None:
    media = samples.write_image(tmp_path / "a.png", fmt="png")
    env = env_for(emulator) | {"BULKUP_SEGMENTS_PER_FILE": "-2"}

    run = await bulkup("upload", media, "--endpoint", emulator.url, env=env, cwd=tmp_path)

    assert run.code == 2
    assert "$BULKUP_SEGMENTS_PER_FILE: segments_per_file must be a whole number >= 1" in run.err
    assert requests(emulator) == {}
