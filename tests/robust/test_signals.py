"""Issue #13, finding 9: Ctrl-C or SIGTERM at any phase exits 130 or 143, never a traceback.

``python -m bulkup upload`` runs as a subprocess and is held, provably, inside one
phase when the signal is sent:

- **reading the config file**, **planning the post groups** (the first reading of a
  manifest) and **opening the checkpoint**: the test holds a write lease
  (``F_SETLEASE``) on the file, so the command's ``open`` of it blocks until the lease
  is broken; the lease turning into a pending break is the readiness signal. After the
  signal, the lease is still breaking: the command left before the kernel gave up on
  the lease (45 s), so it left *because of the signal*;
- **the run**: an APPEND the emulator never answers;
- **shutdown**: the run is over and ``--posts`` names a named pipe nobody reads, so the
  command blocks opening it (``/proc/PID/wchan`` says ``wait_for_partner``).

Each phase is sent SIGINT (exit 130) and SIGTERM (exit 143); standard error holds a
line saying so and no traceback.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.cli.test_cli_upload import PROCESS_LIMIT_S, bulkup, env_for, requests, started
from tests.conftest import HANG, said
from tests.robust.test_outputs_never_destroyed import until

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not hasattr(fcntl, "F_SETLEASE"), reason="file leases are Linux's"),
]

SIGNALS = pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)


def expected(signum: signal.Signals) -> int:
    return 143 if signum == signal.SIGTERM else 130


@contextlib.contextmanager
def leased(path: Path) -> Iterator[Callable[[], bool]]:
    """Hold a write lease on ``path``: another process's ``open`` of it blocks. Yields a
    check: is an open waiting (the lease is being broken, and not yet timed out)?"""
    previous = signal.signal(signal.SIGIO, signal.SIG_IGN)  # the kernel's break notice
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        except OSError as exc:
            pytest.skip(f"no file lease here: {exc}")
        yield lambda: fcntl.fcntl(fd, fcntl.F_GETLEASE) == fcntl.F_RDLCK
    finally:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        os.close(fd)
        signal.signal(signal.SIGIO, previous)


@contextlib.asynccontextmanager
async def stopped_in(
    phase: Callable[[], bool], signum: signal.Signals, *args: object, env: dict[str, str], cwd: Path
) -> AsyncIterator[Process]:
    """Start ``bulkup ARGS``, wait until ``phase()`` says it is held there, send ``signum``
    and wait for it to exit; yields the exited process."""
    async with started(*args, env=env, cwd=cwd) as process:
        await until(lambda: phase() or process.returncode is not None)
        assert process.returncode is None, (cwd / "stderr.txt").read_text()
        process.send_signal(signum)
        with anyio.fail_after(PROCESS_LIMIT_S):
            await process.wait()
        yield process


def check_stopped(process: Process, signum: signal.Signals, cwd: Path) -> str:
    err = (cwd / "stderr.txt").read_text()
    assert process.returncode == expected(signum), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert re.search(r"^bulkup: (interrupted|terminated)", said(err), re.MULTILINE), err
    return err


# --- start-up -------------------------------------------------------------------------------
@SIGNALS
async def test_a_signal_while_the_config_file_is_read(
    emulator: Emulator, tmp_path: Path, signum: signal.Signals
) -> None:
    samples.write_image(tmp_path / "a.png", fmt="png")
    config = tmp_path / "run.toml"
    config.write_text(f'[upload]\nendpoint = "{emulator.url}"\n')
    args = ["upload", "a.png", "--config", config, "--report", "r.jsonl"]
    with leased(config) as waiting:
        async with stopped_in(waiting, signum, *args, env=env_for(emulator), cwd=tmp_path) as p:
            err = check_stopped(p, signum, tmp_path)
            assert waiting(), "the command left only when the lease timed out"
    assert err.strip().count("\n") == 0, err  # one line
    assert not (tmp_path / "r.jsonl").exists()
    assert requests(emulator) == {}


@SIGNALS
async def test_a_signal_while_the_post_groups_are_planned(
    emulator: Emulator, tmp_path: Path, signum: signal.Signals
) -> None:
    """Before: Ctrl-C gave a raw KeyboardInterrupt traceback, SIGTERM a silent death."""
    samples.write_image(tmp_path / "a.png", fmt="png")
    manifest = tmp_path / "posts.jsonl"
    manifest.write_text('{"path": "a.png", "post": "launch"}\n')
    args = ["upload", "posts.jsonl", "--endpoint", emulator.url, "--report", "r.jsonl"]
    with leased(manifest) as waiting:
        async with stopped_in(waiting, signum, *args, env=env_for(emulator), cwd=tmp_path) as p:
            err = check_stopped(p, signum, tmp_path)
            assert waiting(), "the command left only when the lease timed out"
    assert err.strip().count("\n") == 0, err
    assert not (tmp_path / "r.jsonl").exists()  # stopped before any output was opened
    assert requests(emulator) == {}


@SIGNALS
async def test_a_signal_while_the_checkpoint_is_opened(
    emulator: Emulator, tmp_path: Path, signum: signal.Signals
) -> None:
    """Before: the checkpoint was read inside the event loop, which took the signal only
    once the read was done (here, when the kernel broke the lease, 45 s later)."""
    samples.write_image(tmp_path / "a.png", fmt="png")
    args = ["upload", "a.png", "--endpoint", emulator.url, "--checkpoint", "run.ckpt"]
    assert (await bulkup(*args, env=env_for(emulator), cwd=tmp_path)).code == 0
    snapshot = tmp_path / "run.ckpt"
    before, sent = snapshot.read_bytes(), requests(emulator)
    with leased(snapshot) as waiting:
        async with stopped_in(waiting, signum, *args, env=env_for(emulator), cwd=tmp_path) as p:
            check_stopped(p, signum, tmp_path)
            assert waiting(), "the command left only when the lease timed out"
    assert snapshot.read_bytes() == before
    assert requests(emulator) == sent
    assert not (tmp_path / "run.ckpt.lock").exists()  # released and removed: a rerun may start


# --- the run and after ----------------------------------------------------------------------
@SIGNALS
async def test_a_signal_during_the_run(tmp_path: Path, signum: signal.Signals) -> None:
    samples.write_video(tmp_path / "clip.mp4", width=64, height=64, seconds=2)
    async with Emulator(HANG, environ={}) as emu:
        emu.faults.schedule("latency_spike", endpoint="append", after=2)
        args = ["upload", "clip.mp4", "--endpoint", emu.url, "--checkpoint", "run.ckpt"]
        args += ["--chunk-size", "1KiB", "--segments-per-file", "1"]
        hung = emu.state.faults.injected  # the emulator counts each fault it injects
        async with stopped_in(
            lambda: hung["latency_spike"] >= 1, signum, *args, env=env_for(emu), cwd=tmp_path
        ) as process:
            err = check_stopped(process, signum, tmp_path)
    assert "saving the checkpoint" in err


WCHAN = Path("/proc/self/wchan").exists()


def blocked_opening_a_pipe(pid: int) -> bool:
    """Whether process ``pid`` waits in ``open`` for the other end of a named pipe."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text().strip() == "wait_for_partner"
    except OSError:
        return False


@SIGNALS
async def test_a_signal_at_shutdown_while_the_posts_file_is_written(
    emulator: Emulator, tmp_path: Path, signum: signal.Signals
) -> None:
    """Before: after the run the event loop had handed SIGTERM back to the default (a
    silent death, no exit status of ours) and Ctrl-C raised a traceback."""
    if not WCHAN:
        pytest.skip("needs /proc/PID/wchan")
    samples.write_image(tmp_path / "a.png", fmt="png")
    (tmp_path / "m.jsonl").write_text('{"path": "a.png", "post": "p"}\n')
    os.mkfifo(tmp_path / "posts.pipe")  # nobody reads it: opening it blocks
    args = ["upload", "m.jsonl", "--endpoint", emulator.url, "--report", "r.jsonl"]
    args += ["--posts", "posts.pipe"]
    async with started(*args, env=env_for(emulator), cwd=tmp_path) as process:
        await until(lambda: blocked_opening_a_pipe(process.pid))
        process.send_signal(signum)
        with anyio.fail_after(PROCESS_LIMIT_S):
            await process.wait()
        err = check_stopped(process, signum, tmp_path)
    assert "1 item: 1 succeeded" in err  # the run itself had finished
    assert (tmp_path / "r.jsonl").read_text().count("\n") == 1  # its report is whole
