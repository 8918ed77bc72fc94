"""TLS is verified unless the user says otherwise; the emulator listens on loopback only.

``bulkup upload`` against ``Emulator(tls="self-signed")``: without the emulator's CA it
fails at once with a certificate error (no retries, no request reaches the server);
with ``--ca-bundle`` it succeeds; with ``--insecure`` it succeeds and warns. The
emulator and ``bulkup serve`` bind 127.0.0.1 unless told otherwise, as the kernel's
socket table shows.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from bulkup.auth.credentials import OAuth1Auth
from bulkup.client.config import UploadConfig
from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.apiclient import credentials
from tests.cli.test_cli_upload import (
    PROCESS_LIMIT_S,
    bulkup,
    check_line,
    check_succeeded,
    command,
    env_for,
    requests,
)
from tests.conftest import FAST

pytestmark = pytest.mark.anyio

WARNING = "bulkup: WARNING: --insecure: TLS certificates are NOT verified"


@pytest.fixture
async def tls_emulator() -> AsyncIterator[Emulator]:
    async with Emulator(FAST, tls="self-signed", environ={}) as emu:
        yield emu


def two_files(folder: Path) -> list[Path]:
    return [
        samples.write_image(folder / "photo.png", fmt="png", seed=1),
        samples.write_video(folder / "clip.mp4", width=64, height=64, seconds=1, seed=2),
    ]


def upload(emu: Emulator, *options: object) -> list[object]:
    return [
        "upload",
        "photo.png",
        "clip.mp4",
        "--endpoint",
        emu.url,
        "--chunk-size",
        "4KiB",
        *options,
    ]


async def test_an_untrusted_certificate_fails_every_item_at_once_naming_tls_and_exits_2(
    tls_emulator: Emulator, tmp_path: Path
) -> None:
    two_files(tmp_path)
    assert tls_emulator.url.startswith("https://127.0.0.1:")

    run = await bulkup(*upload(tls_emulator), env=env_for(tls_emulator), cwd=tmp_path)

    assert run.code == 2, run.err  # refused, like credentials: a rerun alone cannot help
    assert "Traceback" not in run.err
    lines = run.lines()
    assert len(lines) == 2
    for line in lines:  # failed if it tried, skipped if the stop came before it was sent
        check_line(line)
        assert line["status"] in {"failed", "skipped"} and line["media_id_string"] is None
        assert line["error"]["kind"] == "tls_error"
        assert "TLS certificate not trusted" in line["error"]["message"]
        assert "CERTIFICATE_VERIFY_FAILED" in line["error"]["message"]
        assert "--ca-bundle" in line["error"]["message"]  # the fix
        assert line["attempts"] == 1  # not retried: a certificate does not become trusted
    assert "failed" in {line["status"] for line in lines}
    assert "TLS certificate not trusted" in run.err
    assert requests(tls_emulator) == {}  # no request got past the handshake
    assert WARNING not in run.err


async def test_the_emulator_ca_as_ca_bundle_uploads_byte_exact_without_warning(
    tls_emulator: Emulator, tmp_path: Path
) -> None:
    files = two_files(tmp_path)
    assert tls_emulator.ca_path is not None

    run = await bulkup(
        *upload(tls_emulator, "--ca-bundle", tls_emulator.ca_path),
        env=env_for(tls_emulator),
        cwd=tmp_path,
    )

    assert run.code == 0, run.err
    lines = {line["id"]: line for line in run.lines()}
    for path in files:
        check_succeeded(lines[path.name], tls_emulator, path)
    assert "WARNING" not in run.err


async def test_insecure_uploads_and_warns_on_stderr(tls_emulator: Emulator, tmp_path: Path) -> None:
    files = two_files(tmp_path)

    run = await bulkup(*upload(tls_emulator, "--insecure"), env=env_for(tls_emulator), cwd=tmp_path)

    assert run.code == 0, run.err
    assert run.err.startswith(WARNING), run.err  # before anything is sent
    assert WARNING not in run.out
    lines = {line["id"]: line for line in run.lines()}
    for path in files:
        check_succeeded(lines[path.name], tls_emulator, path)


async def test_the_library_verifies_certificates_by_default(
    tls_emulator: Emulator, tmp_path: Path
) -> None:
    from bulkup.client.uploader import Uploader

    (photo, _) = two_files(tmp_path)
    config = UploadConfig(endpoint=tls_emulator.url)
    assert config.verify_tls and config.ca_bundle is None

    async with Uploader(config, auth=OAuth1Auth(credentials(tls_emulator.user))) as up:
        result = await up.upload(photo)

    assert result.status == "failed" and result.error is not None
    assert "TLS certificate not trusted" in result.error.message
    assert requests(tls_emulator) == {}


# --- where the emulator listens --------------------------------------------------------
def listening(port: int) -> set[str]:
    """Addresses with a socket listening on ``port``, from the kernel's tables."""
    found: set[str] = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, _, hex_port = local.partition(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # The kernel prints each 32-bit word of the address in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, words))
    return found


@pytest.fixture
def proc_net() -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp to read the listening sockets from")


@pytest.mark.usefixtures("proc_net")
async def test_the_emulator_listens_on_127_0_0_1_by_default() -> None:
    async with Emulator(FAST, environ={}) as emu:
        assert emu.host == "127.0.0.1"
        assert emu.url == f"http://127.0.0.1:{emu.port}"
        assert listening(emu.port) == {"127.0.0.1"}


@pytest.mark.usefixtures("proc_net")
async def test_bulkup_serve_listens_on_127_0_0_1_by_default() -> None:
    process = await anyio.open_process(
        command("serve", "--port", "0"),
        env=env_for(None),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # the export lines; the banner is on stderr
    )
    async with process:
        assert process.stderr is not None
        seen = b""
        try:
            with anyio.fail_after(PROCESS_LIMIT_S):
                while b"stop: Ctrl-C" not in seen:
                    seen += await process.stderr.receive()
                first = seen.decode().splitlines()[0]
                url = first.split("listening on ")[1].split(" ")[0]
                port = int(url.rpartition(":")[2])

                assert url == f"http://127.0.0.1:{port}"
                assert listening(port) == {"127.0.0.1"}

                process.send_signal(signal.SIGINT)
                assert await process.wait() == 0
        finally:
            if process.returncode is None:
                process.kill()
