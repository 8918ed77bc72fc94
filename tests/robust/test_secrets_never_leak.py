"""Issue #13, finding 10: no secret reaches any output, and none goes over plain http.

- A server that echoes the ``Authorization`` header (and the bare token) in an error
  detail: the report, the summary, the logs, the posts file, the checkpoint and
  ``bulkup status`` show the message with every secret masked (one registry of the
  secrets in use, :mod:`bulkup.redact`, that every writer goes through).
- A checkpoint written with a password in its endpoint URL is shown by ``bulkup
  status`` with it masked.

The echoing server is a few lines of aiohttp on a real socket.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from aiohttp import web

from bulkup.media import samples
from bulkup.run.checkpoint import Checkpoint, RunIdentity
from tests.cli.test_cli_upload import Run, bulkup, env_for

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
