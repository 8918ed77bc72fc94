"""Credentials never leave the process: not in reports, checkpoints, output or reprs.

The emulator's only user has distinctive secrets; runs through the library and the
command line (with a failing item, and with a wrong secret) must not write any of
them anywhere, and every file they write is private (mode 0600).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import anyio
import pytest

from bulkup.auth import oauth1
from bulkup.auth.credentials import BearerAuth, OAuth1Auth, auth_from_env
from bulkup.client.config import UploadConfig
from bulkup.client.uploader import Uploader
from bulkup.core.items import Item, Result
from bulkup.emulator import Emulator, EmulatorConfig, Lifetimes, User
from bulkup.errors import ConfigError
from bulkup.media import samples
from bulkup.run.report import ReportWriter
from tests.conftest import KiB

pytestmark = pytest.mark.anyio

CONSUMER_SECRET = "SECRET-consumer-9f3a"
TOKEN_SECRET = "SECRET-token-7c2e"
BEARER = "SECRET-bearer-4d1b"
WRONG_SECRET = "SECRET-wrong-51e0"
SECRETS = (CONSUMER_SECRET, TOKEN_SECRET, BEARER, WRONG_SECRET)
USER = User(
    id="4242424242",
    screen_name="keeper",
    consumer_key="keeper-consumer-key",
    consumer_secret=CONSUMER_SECRET,
    access_token="4242424242-keeper-access-token",
    access_token_secret=TOKEN_SECRET,
    bearer_tokens=(BEARER,),
)


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(users=(USER,), lifetimes=Lifetimes(processing_secs=0, check_after_secs=0))


def oauth1_credentials(secret: str = CONSUMER_SECRET) -> oauth1.Credentials:
    return oauth1.Credentials(
        consumer_key=USER.consumer_key,
        consumer_secret=secret,
        token=USER.access_token,
        token_secret=TOKEN_SECRET,
    )


def cli_env(*, secret: str = CONSUMER_SECRET, bearer: bool = False) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if bearer:
        return env | {"X_BEARER_TOKEN": BEARER}
    return env | {
        "X_API_KEY": USER.consumer_key,
        "X_API_SECRET": secret,
        "X_ACCESS_TOKEN": USER.access_token,
        "X_ACCESS_TOKEN_SECRET": TOKEN_SECRET,
    }


def leaks(where: str, data: bytes | str) -> list[str]:
    raw = data.encode() if isinstance(data, str) else data
    return [f"{where} contains {secret}" for secret in SECRETS if secret.encode() in raw]


def leaks_in_files(folder: Path) -> list[str]:
    """Every file under ``folder`` (reports, checkpoint, journal, lock, captured output)."""
    found: list[str] = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            found += leaks(str(path.relative_to(folder)), path.read_bytes())
    return found


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(*paths: Path) -> None:
    for path in paths:
        assert mode(path) == 0o600, f"{path.name} has mode {oct(mode(path))}"


def checkpoint_files(checkpoint: Path) -> list[Path]:
    """After a run, the snapshot alone: its journal and lock are removed at close."""
    beside = sorted(p.name for p in checkpoint.parent.glob(f"{checkpoint.name}.*"))
    assert checkpoint.exists() and beside == [], beside
    return [checkpoint]


def media(folder: Path) -> dict[str, Path]:
    """A still image, a video in several segments and one that fails processing."""
    folder.mkdir()
    return {
        "photo": samples.write_image(folder / "photo.png", fmt="png", seed=1),
        "clip": samples.write_video(folder / "clip.mp4", width=64, height=64, seconds=1),
        "too-wide": samples.write_video(folder / "wide.mp4", width=2000, height=64, seconds=1),
    }


async def run_cli(*args: object, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """Run ``bulkup ARGS``; its output is also saved in ``cwd`` for the scan."""
    command = [sys.executable, "-m", "bulkup", *(str(a) for a in args)]
    with anyio.fail_after(60):
        done = await anyio.run_process(command, env=env, cwd=cwd, check=False)
    name = "-".join(str(a) for a in args[:1])
    (cwd / f"{name}.stdout").write_bytes(done.stdout)
    (cwd / f"{name}.stderr").write_bytes(done.stderr)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


# --- objects --------------------------------------------------------------------------
def test_reprs_of_credentials_and_auth_show_no_secret() -> None:
    credentials = oauth1_credentials()
    texts = {
        "Credentials repr": repr(credentials),
        "Credentials str": str(credentials),
        "OAuth1Auth repr": repr(OAuth1Auth(credentials)),
        "OAuth1Auth str": str(OAuth1Auth(credentials)),
        "OAuth1Auth account": OAuth1Auth(credentials).account,
        "BearerAuth repr": repr(BearerAuth(BEARER)),
        "BearerAuth str": str(BearerAuth(BEARER)),
        "BearerAuth account": BearerAuth(BEARER).account,
        "auth_from_env repr": repr(auth_from_env(cli_env())),
        "emulator User repr": repr(USER),
    }
    found = [leak for where, text in texts.items() for leak in leaks(where, text)]
    assert not found, found


def test_a_credentials_error_names_the_variables_but_not_their_values() -> None:
    with pytest.raises(ConfigError) as caught:
        auth_from_env({"X_API_SECRET": CONSUMER_SECRET, "X_ACCESS_TOKEN_SECRET": TOKEN_SECRET})
    message = str(caught.value)
    assert "X_API_KEY" in message and "X_ACCESS_TOKEN" in message
    assert not leaks("error message", message)


# --- the library ----------------------------------------------------------------------
async def test_a_library_run_writes_no_secret_and_only_private_files(
    emulator: Emulator, tmp_path: Path
) -> None:
    files = media(tmp_path / "media")
    work = tmp_path / "run"
    work.mkdir()
    checkpoint, report_path = work / "run.ckpt", work / "report.jsonl"
    items = [Item(id=name, path=path) for name, path in files.items()]
    items.append(Item(id="missing", path=tmp_path / "media" / "missing.png"))
    config = UploadConfig(api="v1.1", endpoint=emulator.url, chunk_size=4 * KiB)
    auth = OAuth1Auth(oauth1_credentials())
    report = ReportWriter(report_path)
    results: list[Result] = []
    found: list[str] = []
    async with Uploader(config, auth=auth) as up:
        for text in (repr(up), repr(up.auth), repr(up.config), repr(up.runtime), repr(up.stats)):
            found += leaks("uploader repr", text)
        async for result in up.upload_many(items, checkpoint=checkpoint):
            report.write(result)
            results.append(result)
            found += leaks_in_files(work)  # mid-run: the journal holds the events
            found += leaks(f"result {result.id}", repr(result))
    report.close()

    outcome = {r.id: r.status for r in results}
    assert outcome == {
        "photo": "succeeded",
        "clip": "succeeded",
        "too-wide": "failed",
        "missing": "failed",
    }
    found += leaks_in_files(work)
    assert not found, found
    assert_private(report_path, *checkpoint_files(checkpoint))


# --- the command line -----------------------------------------------------------------
@pytest.mark.parametrize("bearer", [False, True], ids=["oauth1", "bearer"])
async def test_a_cli_run_writes_no_secret_and_only_private_files(
    emulator: Emulator, tmp_path: Path, bearer: bool
) -> None:
    media(tmp_path / "media")
    code, out, err = await run_cli(
        "upload",
        "media",
        "--endpoint",
        emulator.url,
        "--checkpoint",
        "run.ckpt",
        "--report",
        "report.jsonl",
        "--chunk-size",
        "4KiB",
        env=cli_env(bearer=bearer),
        cwd=tmp_path,
    )

    assert code == 1, err  # the too-wide video fails processing
    lines = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text().splitlines()]
    assert sorted(line["status"] for line in lines) == ["failed", "succeeded", "succeeded"]
    assert not leaks_in_files(tmp_path)
    assert not leaks("stdout", out) and not leaks("stderr", err)
    assert_private(tmp_path / "report.jsonl", *checkpoint_files(tmp_path / "run.ckpt"))


async def test_a_wrong_secret_gives_one_clear_401_and_no_request_storm(
    emulator: Emulator, tmp_path: Path
) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    for i in range(12):
        samples.write_image(folder / f"p{i:02d}.png", fmt="png", width=16, height=16, seed=i)
    code, out, err = await run_cli(
        "upload",
        "media",
        "--endpoint",
        emulator.url,
        "--checkpoint",
        "run.ckpt",
        "--report",
        "report.jsonl",
        "--files-in-flight",  # fewer than the photos: the rest are never tried
        "4",
        env=cli_env(secret=WRONG_SECRET),
        cwd=tmp_path,
    )

    assert code in (1, 2), err
    assert "Traceback" not in err
    assert "401" in err and "X_API_SECRET" in err, err
    said = "\n".join(json.loads(line)["message"] for line in err.splitlines())  # JSON: a pipe
    assert said.count("Could not authenticate you") == 1, err  # said once, not per file
    answered = emulator.stats()["requests"]
    total = sum(sum(counts.values()) for counts in answered.values())
    assert total <= 4, answered  # one per file in flight at most: it stops at the first 401
    assert set(answered.get("upload", {})) <= {"401"}
    assert not leaks_in_files(tmp_path)
    assert not leaks("stdout", out) and not leaks("stderr", err)
