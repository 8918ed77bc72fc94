"""``bulkup auth`` and OAuth 2.0 uploads from the command line, against the emulator.

``bulkup auth login --no-browser`` is driven as a person would: read the URL it
prints, open it (an aiohttp client following redirects, the emulator approving at
once). The login listens on ``--port`` (or ``--redirect-uri``) of a callback the
emulator's clients register, a free port per test. Uploads run ``bulkup upload``
with the token in ``X_TOKEN_FILE`` or in ``X_BEARER_TOKEN``/``X_REFRESH_TOKEN``,
expired beforehand on the emulator's clock, and every file and output of the run is
searched for every token the emulator ever issued and for the client secret: none
may appear (the token file aside).
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import anyio
import pytest
from anyio.abc import ByteReceiveStream

from bulkup.auth.oauth2 import DEFAULT_REDIRECT_URI, X_TOKEN_URL
from bulkup.emulator import (
    DEMO_CLIENT,
    DEMO_CONFIDENTIAL_CLIENT,
    Emulator,
    EmulatorConfig,
)
from bulkup.media import samples
from tests.auth.test_oauth2 import (
    OTHER_SERVER,
    TOKEN_LIFETIME,
    callback_of,
    free_port,
    oauth2_config,
    read_json,
    saved_token_file,
    token_requests,
)
from tests.auth.test_secrets import assert_private, checkpoint_files, run_cli
from tests.cli.test_cli_serve import _start as start_serve

pytestmark = pytest.mark.anyio


@pytest.fixture
def callback() -> str:
    """A callback URL on a free loopback port, registered by the emulator's clients."""
    return f"http://127.0.0.1:{free_port()}/callback"


@pytest.fixture
def emulator_config(callback: str) -> EmulatorConfig:
    return oauth2_config(callback)


def base_env(home: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}


def login_args(emulator: Emulator, token_file: Path, *extra: str) -> list[str]:
    return [
        "auth",
        "login",
        "--no-browser",
        "--authorize-url",
        f"{emulator.url}/i/oauth2/authorize",
        "--token-url",
        f"{emulator.url}/2/oauth2/token",
        "--token-file",
        str(token_file),
        "--timeout",
        "30",
        *extra,
    ]


async def read_url(stream: ByteReceiveStream) -> str:
    """The authorize URL from what ``bulkup auth login`` prints, as a person reads it."""
    seen = b""
    while True:
        seen += await stream.receive()
        for line in seen.decode().splitlines(keepends=True):
            if line.strip().startswith("http") and line.endswith("\n"):
                return line.strip()


async def cli_login(
    emulator: Emulator,
    http: aiohttp.ClientSession,
    token_file: Path,
    home: Path,
    *extra: str,
    opened: list[str] | None = None,
) -> tuple[int, str]:
    """Run ``bulkup auth login --no-browser``, open the printed URL; exit code and stdout.

    The login listens on the port of the emulator's registered callback, unless
    ``extra`` says ``--redirect-uri``.
    """
    if "--redirect-uri" not in extra:
        extra = (*extra, "--port", str(urlsplit(callback_of(emulator)).port))
    command = [sys.executable, "-m", "bulkup", *login_args(emulator, token_file, *extra)]
    env = base_env(home) | {"DEMO_SECRET": DEMO_CONFIDENTIAL_CLIENT.client_secret}
    with anyio.fail_after(60):
        async with await anyio.open_process(command, env=env) as process:
            assert process.stderr is not None and process.stdout is not None
            url = await read_url(process.stderr)
            if opened is not None:
                opened.append(url)
            async with http.get(url) as resp:  # follows the redirect to the loopback
                assert resp.status == 200, await resp.text()
            out = b""
            async for chunk in process.stdout:
                out += chunk
            code = await process.wait()
    return code, out.decode()


def photos(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        samples.write_image(folder / f"p{i:02d}.png", width=32, height=32, seed=i)
    return folder


def upload_args(emulator: Emulator, *extra: str) -> list[str]:
    return ["upload", "media", "--endpoint", emulator.url, "--report", "report.jsonl", *extra]


def oauth2_env(home: Path, emulator: Emulator, **extra: str) -> dict[str, str]:
    return base_env(home) | {
        "X_CLIENT_ID": DEMO_CLIENT.client_id,
        "X_TOKEN_URL": f"{emulator.url}/2/oauth2/token",
        **extra,
    }


def issued_leaks(emulator: Emulator, where: str, text: str | bytes) -> list[str]:
    raw = text.encode() if isinstance(text, str) else text
    secrets = [*emulator.state.oauth2.issued, DEMO_CONFIDENTIAL_CLIENT.client_secret]
    return [f"{where} contains {s[:4]}…" for s in secrets if s.encode() in raw]


# --- bulkup auth login / status -------------------------------------------------------------
async def test_auth_login_no_browser_prints_a_url_that_logs_in(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    token_file = tmp_path / "cfg" / "token.json"
    code, out = await cli_login(
        emulator, http, token_file, tmp_path, "--client-id", DEMO_CLIENT.client_id
    )

    assert code == 0
    assert f"tokens saved to {token_file}" in out
    assert f"X_TOKEN_URL={emulator.url}/2/oauth2/token" in out  # not X's: it must be named
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    saved = read_json(token_file)
    assert saved["scope"] == "media.write offline.access" and saved["refresh_token"]
    assert not issued_leaks(emulator, "stdout", out)

    status, shown, err = await run_cli(
        "auth", "status", "--token-file", token_file, env=base_env(tmp_path), cwd=tmp_path
    )
    assert status == 0, err
    assert "media.write offline.access" in shown and "refresh token: present" in shown
    assert not issued_leaks(emulator, "status", shown)


async def test_auth_login_with_a_confidential_client_reads_the_secret_from_a_variable(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    client_id = DEMO_CONFIDENTIAL_CLIENT.client_id
    token_file = tmp_path / "token.json"
    code, out = await cli_login(
        emulator,
        http,
        token_file,
        tmp_path,
        "--client-id",
        client_id,
        "--client-secret-env",
        "DEMO_SECRET",
    )
    assert code == 0 and read_json(token_file)["access_token"]
    assert "X_CLIENT_SECRET=$DEMO_SECRET" in out


async def test_auth_login_with_a_redirect_uri_sends_it_verbatim_and_listens_there(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path, callback: str
) -> None:
    token_file = tmp_path / "token.json"
    opened: list[str] = []
    args = ("--client-id", DEMO_CLIENT.client_id, "--redirect-uri", callback)

    code, _ = await cli_login(emulator, http, token_file, tmp_path, *args, opened=opened)

    assert code == 0 and read_json(token_file)["access_token"]
    assert parse_qs(urlsplit(opened[0]).query)["redirect_uri"] == [callback]


async def test_auth_login_help_names_the_callback_to_register(tmp_path: Path) -> None:
    code, out, err = await run_cli("auth", "login", "--help", env=base_env(tmp_path), cwd=tmp_path)
    assert code == 0, err
    text = " ".join(out.split())  # argparse wraps lines
    assert DEFAULT_REDIRECT_URI == "http://127.0.0.1:8976/callback"
    assert f"add {DEFAULT_REDIRECT_URI} to the app's Callback URI" in text
    assert "--port N" in text and "--redirect-uri URI" in text
    assert "default 8976" in text


async def test_auth_login_on_a_port_in_use_names_it_and_the_options(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        args = ("auth", "login", "--no-browser", "--client-id", "c", "--port", port)
        code, _, err = await run_cli(*args, env=base_env(tmp_path), cwd=tmp_path)
    assert code == 1 and "Traceback" not in err
    assert f"port {port}" in err and "--port N" in err and "--redirect-uri URI" in err
    assert not (tmp_path / ".config").exists()


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ((), "--client-id"),
        (("--client-id", "c", "--client-secret-env", "UNSET_VAR"), "UNSET_VAR"),
        (("--client-id", "c", "--redirect-uri", "https://app.example/cb"), "127.0.0.1"),
        (("--client-id", "c", "--port", "1", "--redirect-uri", DEFAULT_REDIRECT_URI), "not both"),
        (("--client-id", "c", "--port", "70000"), "--port must be 0..65535"),
    ],
    ids=["no-client-id", "unset-secret-variable", "not-loopback", "both", "bad-port"],
)
async def test_auth_login_usage_errors_exit_2(
    emulator: Emulator, tmp_path: Path, extra: tuple[str, ...], says: str
) -> None:
    args = login_args(emulator, tmp_path / "t.json", *extra)
    code, _, err = await run_cli(*args, env=base_env(tmp_path), cwd=tmp_path)
    assert code == 2 and says in err and "Traceback" not in err


async def test_auth_status_without_a_token_file_says_to_log_in(tmp_path: Path) -> None:
    code, _, err = await run_cli(
        "auth", "status", "--token-file", "none.json", env=base_env(tmp_path), cwd=tmp_path
    )
    assert code == 2 and "bulkup auth login" in err


# --- bulkup upload with OAuth 2.0 ----------------------------------------------------------
async def test_a_cli_run_refreshes_the_token_file_and_leaks_no_token(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    keep = tmp_path / "keep"  # the token file lives outside the folder searched for leaks
    keep.mkdir()
    token_file = keep / "token.json"
    client_id = DEMO_CONFIDENTIAL_CLIENT.client_id
    login = ("--client-id", client_id, "--client-secret-env", "DEMO_SECRET")
    assert (await cli_login(emulator, http, token_file, keep, *login))[0] == 0
    before = read_json(token_file)
    emulator.advance(TOKEN_LIFETIME + 1)
    run = tmp_path / "run"
    run.mkdir()
    photos(run / "media", 4)
    env = oauth2_env(
        keep,
        emulator,
        X_CLIENT_ID=client_id,
        X_CLIENT_SECRET=DEMO_CONFIDENTIAL_CLIENT.client_secret,
        X_TOKEN_FILE=str(token_file),
    )

    code, out, err = await run_cli(
        *upload_args(emulator, "--checkpoint", "run.ckpt", "--log-level", "debug"),
        env=env,
        cwd=run,
    )

    assert code == 0, err
    assert token_requests(emulator) == {"200": 2}  # login, one refresh
    after = read_json(token_file)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert after["refresh_token"] != before["refresh_token"]
    assert after["access_token"] in emulator.state.oauth2.issued
    found: list[str] = []
    for path in sorted(run.rglob("*")):
        if path.is_file():
            found += issued_leaks(emulator, path.name, path.read_bytes())
    found += issued_leaks(emulator, "stdout", out) + issued_leaks(emulator, "stderr", err)
    assert not found, found
    assert_private(run / "report.jsonl", *checkpoint_files(run / "run.ckpt"))


async def test_tokens_from_variables_refresh_in_memory_and_say_which_to_update(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    token_file = tmp_path / "token.json"
    login = ("--client-id", DEMO_CLIENT.client_id)
    assert (await cli_login(emulator, http, token_file, tmp_path, *login))[0] == 0
    saved = read_json(token_file)
    token_file.unlink()
    emulator.advance(TOKEN_LIFETIME + 1)
    photos(tmp_path / "media", 2)
    env = oauth2_env(
        tmp_path,
        emulator,
        X_BEARER_TOKEN=saved["access_token"],
        X_REFRESH_TOKEN=saved["refresh_token"],
    )

    code, out, err = await run_cli(*upload_args(emulator), env=env, cwd=tmp_path)

    assert code == 0, err
    assert token_requests(emulator) == {"200": 2}
    assert err.count("oauth2_tokens_in_memory") == 1, err
    assert "X_BEARER_TOKEN and X_REFRESH_TOKEN" in err
    assert not issued_leaks(emulator, "stderr", err) and not issued_leaks(emulator, "out", out)


async def test_without_a_refresh_token_the_cli_stops_at_one_clear_401(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    token_file = tmp_path / "token.json"
    login = ("--client-id", DEMO_CLIENT.client_id, "--scope", "media.write")
    assert (await cli_login(emulator, http, token_file, tmp_path, *login))[0] == 0
    emulator.advance(TOKEN_LIFETIME + 1)
    photos(tmp_path / "media", 12)
    env = oauth2_env(tmp_path, emulator, X_TOKEN_FILE=str(token_file))

    files = ("--files-in-flight", "4")  # fewer than the photos: the rest are never tried
    code, _, err = await run_cli(*upload_args(emulator, *files), env=env, cwd=tmp_path)

    assert code == 2, err
    assert "Traceback" not in err and "401" in err
    assert err.count("oauth2_cannot_refresh") == 1 and "bulkup auth login" in err, err
    assert token_requests(emulator) == {"200": 1}  # the login: no refresh attempted
    answered = emulator.stats()["requests"]
    uploads = sum(sum(counts.values()) for path, counts in answered.items() if "oauth2" not in path)
    assert uploads <= 4, answered  # one per file in flight at most: it stops at the first 401


def test_serve_names_the_demo_client_and_its_oauth2_urls() -> None:
    proc, lines = start_serve()
    try:
        text = "\n".join(lines)
        url = lines[0].split("listening on ")[1].split(" ")[0]
        assert f"X_CLIENT_ID={DEMO_CLIENT.client_id}" in text
        assert f"--authorize-url {url}/i/oauth2/authorize --token-url {url}/2/oauth2/token" in text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)


async def test_a_config_file_names_the_token_file_and_the_client_and_the_token_renews(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    keep = tmp_path / "keep"
    keep.mkdir()
    token_file = keep / "token.json"
    client = DEMO_CONFIDENTIAL_CLIENT
    login = ("--client-id", client.client_id, "--client-secret-env", "DEMO_SECRET")
    assert (await cli_login(emulator, http, token_file, keep, *login))[0] == 0
    before = read_json(token_file)
    emulator.advance(TOKEN_LIFETIME + 1)
    run = tmp_path / "run"
    run.mkdir()
    photos(run / "media", 3)
    config = run / "bulkup.toml"
    config.write_text(  # no secret inline: the file may be readable
        f'[auth]\ntoken_file = "{token_file}"\nclient_id = "{client.client_id}"\n'
        f'token_url = "{emulator.url}/2/oauth2/token"\n'
        'client_secret = { env = "MY_CLIENT_SECRET" }\n'
    )
    config.chmod(0o644)
    env = base_env(keep) | {"MY_CLIENT_SECRET": client.client_secret}

    code, out, err = await run_cli(
        *upload_args(emulator, "--config", "bulkup.toml"), env=env, cwd=run
    )

    assert code == 0, err
    assert token_requests(emulator) == {"200": 2}  # login, one refresh
    after = read_json(token_file)
    assert after["refresh_token"] != before["refresh_token"]
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert not issued_leaks(emulator, "stdout", out) + issued_leaks(emulator, "stderr", err)


async def test_auth_login_trusts_a_ca_bundle_for_a_tls_token_url(
    tmp_path: Path, emulator_config: EmulatorConfig
) -> None:
    import ssl

    async with Emulator(emulator_config, tls="self-signed", environ={}) as emu:
        assert emu.ca_path is not None
        trust = ssl.create_default_context(cafile=str(emu.ca_path))
        token_file = tmp_path / "token.json"
        login = ("--client-id", DEMO_CLIENT.client_id)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as browser:
            untrusted, _ = await cli_login(emu, browser, tmp_path / "no.json", tmp_path, *login)
            code, out = await cli_login(
                emu, browser, token_file, tmp_path, *login, "--ca-bundle", str(emu.ca_path)
            )

    assert untrusted == 1  # the token URL's certificate is not trusted without the CA
    assert not (tmp_path / "no.json").exists()
    assert code == 0 and f"tokens saved to {token_file}" in out
    assert read_json(token_file)["access_token"] in emu.state.oauth2.issued


# --- the token URL: X's by default ----------------------------------------------------------
async def config_show(tmp_path: Path, env: dict[str, str], *args: str) -> str:
    code, out, err = await run_cli("config", "show", *args, env=env, cwd=tmp_path)
    assert code == 0, err
    return out


@pytest.mark.parametrize("endpoint", [(), ("--endpoint", "https://api.twitter.com")])
async def test_config_show_refreshes_at_x_token_url_for_x_api_without_x_token_url(
    tmp_path: Path, endpoint: tuple[str, ...]
) -> None:
    token_file = saved_token_file(tmp_path)
    env = base_env(tmp_path) | {"X_TOKEN_FILE": str(token_file), "X_CLIENT_ID": "cid"}

    out = await config_show(tmp_path, env, *endpoint)

    assert f"# credentials in use: token_url: {X_TOKEN_URL}" in out
    assert "renewed when it expires" in out and "problem" not in out


async def test_config_show_asks_for_x_token_url_when_the_endpoint_is_another_server(
    tmp_path: Path,
) -> None:
    token_file = saved_token_file(tmp_path)
    env = base_env(tmp_path) | {"X_TOKEN_FILE": str(token_file), "X_CLIENT_ID": "cid"}

    out = await config_show(tmp_path, env, "--endpoint", OTHER_SERVER)

    assert "problem" in out and "X_TOKEN_URL missing" in out and "token_url:" not in out
    named = env | {"X_TOKEN_URL": f"{OTHER_SERVER}/2/oauth2/token"}
    out = await config_show(tmp_path, named, "--endpoint", OTHER_SERVER)
    assert f"token_url: {OTHER_SERVER}/2/oauth2/token" in out


async def test_a_config_file_needs_no_token_url_for_x_api(tmp_path: Path) -> None:
    token_file = saved_token_file(tmp_path)
    config = tmp_path / "bulkup.toml"
    config.write_text(f'[auth]\ntoken_file = "{token_file}"\nclient_id = "cid"\n')
    env = base_env(tmp_path)

    out = await config_show(tmp_path, env, "--config", str(config))
    assert f"token_url: {X_TOKEN_URL}" in out

    out = await config_show(tmp_path, env, "--config", str(config), "--endpoint", OTHER_SERVER)
    assert "problem" in out and "lacks token_url" in out
