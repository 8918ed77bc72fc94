"""Issue #13, finding 10: no secret reaches any output, and none goes over plain http.

- A server that echoes the ``Authorization`` header (and the bare token) in an error
  detail: the report, the summary, the logs, the posts file, the checkpoint and
  ``bulkup status`` show the message with every secret masked (one registry of the
  secrets in use, :mod:`bulkup.redact`, that every writer goes through).
- An endpoint URL with a user and password is refused (exit 2) and never stored; a
  checkpoint written with one before is shown by ``bulkup status`` with it masked.
- Credentials over plain ``http://`` to a host other than this machine are refused
  (exit 2) unless ``--allow-plain-http`` (or ``BULKUP_ALLOW_PLAIN_HTTP``) says so;
  loopback stays allowed.
- ``--insecure`` with ``--ca-bundle`` is refused, not one of them silently ignored.

The echoing server is a few lines of aiohttp on a real socket; the rest is the emulator.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from aiohttp import web

from bulkup.emulator import Emulator
from bulkup.media import samples
from bulkup.run.checkpoint import Checkpoint, RunIdentity
from tests.cli.test_cli_upload import Run, bulkup, env_for, requests
from tests.conftest import FAST

pytestmark = pytest.mark.anyio

BEARER = "SECRET-bearer-7d3e91"
REFRESH = "SECRET-refresh-02ac55"
CLIENT_SECRET = "SECRET-client-a1b2c3"
API_KEY = "SECRET-apikey-5e5e5e"
API_SECRET = "SECRET-apisecret-99f0"
ACCESS_TOKEN = "SECRET-access-4c4c4c"
TOKEN_SECRET = "SECRET-tokensecret-8a8a"
PASSWORD = "SECRET-password-3f3f"
SECRETS = (BEARER, REFRESH, CLIENT_SECRET, API_KEY, API_SECRET, ACCESS_TOKEN, TOKEN_SECRET)

CREDENTIALS = {
    "bearer": {"X_BEARER_TOKEN": BEARER},
    "oauth2": {
        "X_BEARER_TOKEN": BEARER,
        "X_REFRESH_TOKEN": REFRESH,
        "X_CLIENT_ID": "client-id",
        "X_CLIENT_SECRET": CLIENT_SECRET,
    },
    "oauth1": {
        "X_API_KEY": API_KEY,
        "X_API_SECRET": API_SECRET,
        "X_ACCESS_TOKEN": ACCESS_TOKEN,
        "X_ACCESS_TOKEN_SECRET": TOKEN_SECRET,
    },
}


class Echo:
    """A server that refuses every request with 400, quoting its Authorization header and
    the bare credential in it; it remembers the headers (OAuth 1.0a signatures) it saw."""

    def __init__(self) -> None:
        self.headers: list[str] = []
        self.url = ""

    async def answer(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        self.headers.append(header)
        bare = header.removeprefix("Bearer ")
        if match := re.search(r'oauth_token="([^"]*)"', header):
            bare = unquote(match[1])
        detail = f"rejected Authorization: {header} (credential {bare})"
        body = {"errors": [{"message": "Bad Request", "code": 400}], "detail": detail}
        return web.json_response(body, status=400)

    def signatures(self) -> list[str]:
        found = [re.search(r'oauth_signature="([^"]*)"', h) for h in self.headers]
        return [unquote(m[1]) for m in found if m]


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    server = Echo()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


def leaks(folder: Path, secrets: tuple[str, ...]) -> list[str]:
    """Every file under ``folder`` that holds any of ``secrets``."""
    return [
        f"{path.name} holds {secret}"
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        for secret in secrets
        if secret.encode() in path.read_bytes()
    ]


def save(run: Run, folder: Path, name: str) -> Run:
    (folder / f"{name}.out").write_text(run.out)
    (folder / f"{name}.err").write_text(run.err)
    return run


# --- what a server says -----------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(CREDENTIALS))
async def test_a_server_echoing_the_credentials_puts_no_secret_in_any_output(
    echo: Echo, tmp_path: Path, kind: str
) -> None:
    """Before: the bearer token landed in the report, the summary and the checkpoint."""
    samples.write_image(tmp_path / "a.png", fmt="png")
    (tmp_path / "m.jsonl").write_text('{"path": "a.png", "post": "p"}\n')
    env = env_for(None) | CREDENTIALS[kind] | {"X_TOKEN_URL": f"{echo.url}/2/oauth2/token"}
    args = ["upload", "m.jsonl", "--endpoint", echo.url, "--checkpoint", "run.ckpt"]
    args += ["--report", "report.jsonl", "--posts", "posts.jsonl", "--max-attempts", "1"]
    args += ["--log-level", "debug", "--log-format", "json"]

    run = save(await bulkup(*args, env=env, cwd=tmp_path), tmp_path, "upload")
    save(await bulkup("status", "run.ckpt", env=env, cwd=tmp_path), tmp_path, "status")
    save(await bulkup("status", "run.ckpt", "--json", env=env, cwd=tmp_path), tmp_path, "json")

    assert run.code == 1, run.err
    assert echo.headers, "the server was asked"
    (line,) = [json.loads(x) for x in (tmp_path / "report.jsonl").read_text().splitlines()]
    message = line["error"]["message"]
    assert "rejected Authorization:" in message and "***" in message  # still says why
    assert "rejected Authorization:" in run.err  # the summary says it too, masked
    assert leaks(tmp_path, (*SECRETS, *echo.signatures())) == []


# --- URLs with credentials ----------------------------------------------------------------
@pytest.mark.parametrize("where", ["option", "environment"])
async def test_an_endpoint_with_a_password_is_refused_and_never_stored(
    emulator: Emulator, tmp_path: Path, where: str
) -> None:
    """Before: the password went into the checkpoint and ``bulkup status`` printed it."""
    samples.write_image(tmp_path / "a.png", fmt="png")
    url = emulator.url.replace("http://", f"http://user:{PASSWORD}@")
    args = ["upload", "a.png", "--checkpoint", "run.ckpt"]
    env = env_for(emulator)
    if where == "option":
        args += ["--endpoint", url]
    else:
        env |= {"BULKUP_ENDPOINT": url}

    run = save(await bulkup(*args, env=env, cwd=tmp_path), tmp_path, "upload")

    assert run.code == 2
    assert "Traceback" not in run.err
    origin = "--endpoint" if where == "option" else "$BULKUP_ENDPOINT"
    assert f"{origin}: endpoint must not hold a user or password" in run.err
    assert not (tmp_path / "run.ckpt").exists()
    assert requests(emulator) == {}
    assert leaks(tmp_path, (PASSWORD,)) == []


async def test_status_masks_the_password_a_checkpoint_was_written_with(tmp_path: Path) -> None:
    identity = RunIdentity(
        endpoint=f"https://user:{PASSWORD}@upload.example.test", dialect="v2", account="oauth1:0"
    )
    Checkpoint.open(tmp_path / "run.ckpt", identity).close()  # as an older bulkup stored it

    text = save(await bulkup("status", "run.ckpt", env=env_for(None), cwd=tmp_path), tmp_path, "t")
    data = save(
        await bulkup("status", "run.ckpt", "--json", env=env_for(None), cwd=tmp_path), tmp_path, "j"
    )

    assert text.code == data.code == 0
    assert "endpoint: https://***@upload.example.test" in text.out
    assert json.loads(data.out)["endpoint"] == "https://***@upload.example.test"
    assert PASSWORD not in text.out + text.err + data.out + data.err


# --- credentials on the wire --------------------------------------------------------------
def non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, if it has one."""
    for target in ("192.0.2.1", "10.255.255.255", "203.0.113.1"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((target, 9))  # UDP: picks the route, sends nothing
            except OSError:
                continue
            address = str(probe.getsockname()[0])
        if not ipaddress.ip_address(address).is_loopback:
            return address
    return None


@pytest.fixture
async def remote() -> AsyncIterator[Emulator]:
    """The emulator on this machine's non-loopback address: another host, as a URL."""
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    async with Emulator(FAST, host=address, port=0, environ={}) as emu:
        yield emu


@pytest.mark.parametrize("kind", ["bearer", "oauth1"])
async def test_credentials_over_plain_http_to_another_host_are_refused(
    remote: Emulator, tmp_path: Path, kind: str
) -> None:
    """Before: the bearer token went in clear to any host without a word."""
    samples.write_image(tmp_path / "a.png", fmt="png")
    user = remote.user
    env = env_for(None) | (
        {"X_BEARER_TOKEN": user.bearer_tokens[0]} if kind == "bearer" else env_for(remote)
    )
    host = remote.url.split("//")[1].split(":")[0]

    run = await bulkup("upload", "a.png", "--endpoint", remote.url, env=env, cwd=tmp_path)

    assert run.code == 2, run.err
    what = "the bearer token" if kind == "bearer" else "the OAuth 1.0a access token and signature"
    assert f"refusing to send {what} over plain http:// to {host}" in run.err
    assert "--allow-plain-http" in run.err
    assert requests(remote) == {}


@pytest.mark.parametrize("how", ["option", "environment", "config file"])
async def test_allow_plain_http_lets_credentials_go_to_another_host(
    remote: Emulator, tmp_path: Path, how: str
) -> None:
    samples.write_image(tmp_path / "a.png", fmt="png")
    args: list[object] = ["upload", "a.png", "--endpoint", remote.url]
    env = env_for(remote)
    if how == "option":
        args.append("--allow-plain-http")
    elif how == "environment":
        env |= {"BULKUP_ALLOW_PLAIN_HTTP": "1"}
    else:
        (tmp_path / "run.toml").write_text("[tls]\nallow_plain_http = true\n")
        args += ["--config", "run.toml"]

    run = await bulkup(*args, env=env, cwd=tmp_path)

    assert run.code == 0, run.err
    assert "1 succeeded" in run.err


async def test_loopback_over_plain_http_needs_no_permission(
    emulator: Emulator, tmp_path: Path
) -> None:
    samples.write_image(tmp_path / "a.png", fmt="png")
    url = emulator.url.replace("127.0.0.1", "localhost")
    env = env_for(None) | {"X_BEARER_TOKEN": emulator.user.bearer_tokens[0]}

    run = await bulkup("upload", "a.png", "--endpoint", url, env=env, cwd=tmp_path)

    assert run.code == 0, run.err


async def test_insecure_with_a_ca_bundle_is_refused(emulator: Emulator, tmp_path: Path) -> None:
    """Before: --insecure won and the CA bundle was silently ignored."""
    samples.write_image(tmp_path / "a.png", fmt="png")
    (tmp_path / "ca.pem").write_text("not used\n")

    run = await bulkup(
        "upload",
        "a.png",
        "--endpoint",
        emulator.url,
        "--insecure",
        "--ca-bundle",
        "ca.pem",
        env=env_for(emulator),
        cwd=tmp_path,
    )

    assert run.code == 2
    assert "--insecure and --ca-bundle contradict each other" in run.err
    assert requests(emulator) == {}


@pytest.mark.parametrize("problem", ["plain http", "insecure with a CA bundle"])
async def test_auth_login_refuses_before_listening(tmp_path: Path, problem: str) -> None:
    token_url = "http://203.0.113.9/2/oauth2/token"  # another host, never reached
    extra = []
    if problem != "plain http":
        token_url = "https://203.0.113.9/2/oauth2/token"
        extra = ["--insecure", "--ca-bundle", "ca.pem"]
    args = ["auth", "login", "--client-id", "c", "--token-url", token_url, "--no-browser"]
    args += ["--authorize-url", "https://203.0.113.9/i/oauth2/authorize", "--timeout", "1"]
    args += ["--token-file", "token.json", *extra]

    run = await bulkup(*args, env=env_for(None), cwd=tmp_path)

    assert run.code == 2, run.err
    if problem == "plain http":
        assert "refusing to send the authorization code" in run.err
        assert "--allow-plain-http" in run.err
    else:
        assert "--insecure and --ca-bundle contradict each other" in run.err
    assert not (tmp_path / "token.json").exists()
