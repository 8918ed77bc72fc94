"""Failing fast and visibly (issue [4/6]): a server that no request of the run reached.

``bulkup upload`` of 20 files (more than the files in flight) with credentials in the
environment, against a port where nothing listens, a name that does not resolve, and
the emulator over TLS with a certificate this machine does not trust. Each run ends at
once with the exit status of the table (75 unreachable, 2 certificate), stderr names
the cause once in plain words with what to do, and every item is in the report: those
that tried to connect failed, the others are ``skipped`` with the kind of the cause.
The tries are counted (the items that tried, and each one's attempts), never timed.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bulkup.client.config import DEFAULT_FILES_IN_FLIGHT
from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.cli.test_cli_upload import bulkup, check_line, env_for, requests
from tests.conftest import FAST, said

pytestmark = pytest.mark.anyio

FILES = 20
#: Any values: the server is never reached, so they are never checked.
CREDENTIALS = {
    "X_API_KEY": "consumer-key",
    "X_API_SECRET": "consumer-secret",
    "X_ACCESS_TOKEN": "1-access-token",
    "X_ACCESS_TOKEN_SECRET": "access-token-secret",
}
#: "A couple of quick tries at most" for an item, before anything answered.
MAX_TRIES = 3


@pytest.fixture
def twenty(tmp_path: Path) -> list[str]:
    names = [f"{i:02}.png" for i in range(FILES)]
    for i, name in enumerate(names):
        samples.write_image(tmp_path / name, fmt="png", seed=i)
    return names


@pytest.fixture
def nothing_listening() -> tuple[str, int]:
    """A port of 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return "127.0.0.1", sock.getsockname()[1]


@pytest.fixture
async def tls_emulator() -> AsyncIterator[Emulator]:
    async with Emulator(FAST, tls="self-signed", environ={}) as emu:
        yield emu


def check_stopped(lines: list[dict[str, Any]], names: list[str], kind: str) -> str:
    """Every item is reported once: the few that tried failed, the rest are skipped, all
    with ``kind`` and one message (the cause); returns that message."""
    assert sorted(line["id"] for line in lines) == names  # every item, once
    for line in lines:
        check_line(line)
        assert line["error"]["kind"] == kind, line
        assert line["media_id_string"] is None, line
    status = Counter(line["status"] for line in lines)
    assert set(status) <= {"failed", "skipped"}, status
    tried = [line for line in lines if line["status"] == "failed"]
    # Only the files in flight when the run began tried; each a couple of times at most.
    assert 1 <= len(tried) <= DEFAULT_FILES_IN_FLIGHT, status
    assert all(line["attempts"] <= MAX_TRIES for line in tried), tried
    assert status["skipped"] >= FILES - DEFAULT_FILES_IN_FLIGHT, status
    messages = {line["error"]["message"] for line in lines}
    assert len(messages) == 1, messages  # one cause, said the same way for every item
    return str(messages.pop())


def check_said_once(err: str, cause: str, fix: str) -> None:
    err = said(err)  # a pipe: JSON lines, each with the message a terminal shows
    assert "Traceback" not in err, err
    assert err.count(cause) == 1, err  # named once, not once per item
    assert fix in err, err
    for jargon in ("Connect call failed", "ClientConnector", "Errno", "_ssl.c"):
        assert jargon not in err, err


async def test_nothing_listening_ends_the_run_at_once_naming_it_and_exits_75(
    tmp_path: Path, twenty: list[str], nothing_listening: tuple[str, int]
) -> None:
    host, port = nothing_listening
    endpoint = f"http://{host}:{port}"

    run = await bulkup(
        "upload", *twenty, "--endpoint", endpoint, env=env_for(None) | CREDENTIALS, cwd=tmp_path
    )

    assert run.code == 75, run.err  # left for later: start the server and run it again
    message = check_stopped(run.lines(), twenty, "transport_error")
    cause = f"nothing is listening at {host}:{port} (connection refused)"
    assert message.startswith(cause), message
    check_said_once(run.err, cause, "--endpoint")


async def test_a_name_that_does_not_resolve_ends_the_run_at_once_naming_it_and_exits_75(
    tmp_path: Path, twenty: list[str]
) -> None:
    endpoint = "https://does-not-resolve.invalid"

    run = await bulkup(
        "upload", *twenty, "--endpoint", endpoint, env=env_for(None) | CREDENTIALS, cwd=tmp_path
    )

    assert run.code == 75, run.err
    message = check_stopped(run.lines(), twenty, "transport_error")
    cause = "the name does-not-resolve.invalid does not resolve"
    assert message.startswith(cause), message
    check_said_once(run.err, cause, "--endpoint")


async def test_an_untrusted_certificate_ends_the_run_at_once_naming_it_and_exits_2(
    tmp_path: Path, twenty: list[str], tls_emulator: Emulator
) -> None:
    env = env_for(tls_emulator)  # real credentials: they are not what is refused

    run = await bulkup("upload", *twenty, "--endpoint", tls_emulator.url, env=env, cwd=tmp_path)

    assert run.code == 2, run.err  # refused: rerunning alone cannot help
    message = check_stopped(run.lines(), twenty, "tls_error")
    address = tls_emulator.url.removeprefix("https://")
    cause = f"TLS certificate not trusted: {address} presented one this machine cannot verify"
    assert message.startswith(cause), message
    check_said_once(run.err, cause, "--ca-bundle")
    assert requests(tls_emulator) == {}  # no request got past the handshake
