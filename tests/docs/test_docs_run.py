"""Every command and code block of README.md and docs/*.md runs, against the emulator.

Each document gets a fresh folder of sample media (``photos/``, ``clips/launch.mp4``,
``clips.jsonl``, …, see :func:`tests.docs.blocks.prepare_folder`) and one emulator
(``bulkup serve`` in a subprocess); its blocks run in order, sharing the folder and
the variables they export. The emulator's demo credentials are in the environment
(``X_API_KEY``, …) with ``BULKUP_ENDPOINT``; an endpoint a command names
(``http://127.0.0.1:8765``, ``https://api.x.com``) becomes the emulator's. Every
command must exit 0, unless the block shows ``echo $?`` after it with another status.
Long-running commands are started and stopped: ``bulkup serve`` once it listens,
``bulkup auth login`` once the URL it prints has been opened.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bulkup.core.items import Result
from tests.docs.blocks import (
    DOCS,
    ENDPOINTS,
    ROOT,
    RUNNERS,
    SHELLS,
    Block,
    Command,
    Served,
    blocks,
    commands,
    environment,
    prepare_folder,
    ready_url,
)

#: Features of issue [4/6] that other branches build (patterns): a command naming one
#: may fail until they are merged; once it passes, the test says to take it off.
PENDING: tuple[str, ...] = ()
#: Report fields that issue [4/6] adds (documented before the code has them).
PENDING_FIELDS: set[str] = set()
#: Something a person would look for in what a command prints.
EXPECT = {
    "bulkup demo": "verified",
    "bulkup config show": "concurrency",
    "bulkup serve": "X_API_KEY",
    "bulkup auth status": "token",
    "--log-format json": "run_finished",
}
TIMEOUT = 60


@dataclass
class Session:
    """One document's run: its folder, environment and what went wrong."""

    work: Path
    served: Served
    env: dict[str, str]
    failures: list[str] = field(default_factory=list)
    pending_failed: list[str] = field(default_factory=list)
    pending_passed: list[str] = field(default_factory=list)
    last: int = 0

    def judge(self, where: str, text: str, ok: bool, why: str) -> None:
        pending = any(re.search(p, text) for p in PENDING)
        if pending and ok:
            self.pending_passed.append(f"{where}: `{text}` now works: take it off PENDING")
        elif pending:
            self.pending_failed.append(f"{where}: `{text}`: {why}")
        elif not ok:
            self.failures.append(f"{where}: `{text}`: {why}")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    work = tmp_path / "work"
    work.mkdir()
    prepare_folder(work)
    served = Served(tmp_path)
    try:
        yield Session(work, served, environment(work, served.url))
    finally:
        served.stop()


def rewrite(text: str, session: Session) -> str | None:
    """The command as the test runs it; None for a line of placeholders only."""
    for endpoint in ENDPOINTS:
        text = text.replace(endpoint, session.served.url)
    if text.startswith("export ") and "…" in text:
        kept = [w for w in shlex.split(text)[1:] if "…" not in w and w != "#"]
        kept = [w for w in kept if "=" in w]
        return f"export {shlex.join(kept)}" if kept else None
    if "bulkup serve" in text and "--print-env" in text:
        text = text.replace("bulkup serve", f"bulkup serve --port {session.served.port}")
    return text


def run_shell(command: Command, where: str, session: Session) -> None:
    text = rewrite(command.text, session)
    if text is None:
        return
    if re.match(r"^(\S+=\S+ )*bulkup serve\b", text) and "--print-env" not in text:
        return serve_briefly(text, where, session)
    if text.startswith("bulkup auth login"):
        return login(text, where, session)
    env_file = session.work / ".env-after"
    script = f"(exit {session.last})\n{text}\n__rc=$?\nenv -0 > {env_file}\nexit $__rc\n"
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=session.work,
        env=session.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    if env_file.exists():
        pairs = env_file.read_text().split("\0")
        session.env = dict(p.split("=", 1) for p in pairs if "=" in p)
        env_file.unlink()
    session.last = done.returncode
    output = done.stdout + done.stderr
    check(command, text, where, session, done.returncode, output)


def check(
    command: Command, text: str, where: str, session: Session, code: int, output: str
) -> None:
    if text.startswith("echo $?"):
        ok = output.strip() == command.shown.strip()
        session.judge(where, text, ok, f"printed {output.strip()!r}, shown {command.shown!r}")
        return
    expected = [
        v for k, v in EXPECT.items() if k in text and v not in output and "--print-env" not in text
    ]
    session.judge(
        where,
        text,
        not expected and (code == 0 or command.status_shown),
        f"exit {code}, missing {expected}: {output[-1500:]}",
    )


def serve_briefly(text: str, where: str, session: Session) -> None:
    """``bulkup serve``: started on a free port in a fresh terminal (no ``X_*`` variables),
    stopped with Ctrl-C once it listens."""
    env = {k: v for k, v in session.env.items() if not k.startswith(("X_", "BULKUP_"))}
    with subprocess.Popen(
        ["bash", "-c", f"exec {text} --port 0"],
        cwd=session.work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        seen: list[str] = []
        try:
            ready_url(process, seen)
            process.send_signal(signal.SIGINT)
        except AssertionError:
            pass  # it ended: its status says why
        finally:
            assert process.stdout is not None
            out = "".join(seen) + process.stdout.read()
            process.wait(timeout=20)
    check(Command(text), text, where, session, process.returncode, out)


def login(text: str, where: str, session: Session) -> None:
    """``bulkup auth login --no-browser``: the URL it prints is opened, as a person would."""
    with subprocess.Popen(
        ["bash", "-c", f"exec {text} --timeout 30"],
        cwd=session.work,
        env=session.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            lines = iter(process.stdout)
            url = next(line.strip() for line in lines if line.strip().startswith("http"))
            with urllib.request.urlopen(url, timeout=20) as answer:  # follows the redirect
                assert answer.status == 200
            out = process.stdout.read()
            process.wait(timeout=20)
        finally:
            process.kill()
    check(Command(text), text, where, session, process.returncode, out)


def run_block(block: Block, index: int, session: Session) -> None:
    if block.lang in SHELLS:
        for command in commands(block):
            run_shell(command, block.where, session)
    elif block.lang == "python":
        script = session.work / f"block_{index}.py"
        script.write_text(block.text)
        line = f"python {script.name}"
        if "def test_" in block.text:
            line = f"python -m pytest -q -p no:cacheprovider {script.name}"
        run_shell(Command(line), block.where, session)
    elif block.lang == "toml":
        config = session.work / f"block_{index}.toml"
        config.write_text(block.text)
        config.chmod(0o600)
        run_shell(Command(f"bulkup config show --config {config.name}"), block.where, session)
    elif block.lang == "jsonl":
        name = block.mark[1] if block.mark and block.mark[0] == "file" else f"block_{index}.jsonl"
        (session.work / name).write_text(block.text)
        run_shell(Command(f"bulkup validate {name}"), block.where, session)
    elif block.lang == "json":
        check_json(block, session)


def check_json(block: Block, session: Session) -> None:
    """A JSON block parses; a report line has exactly the report's fields."""
    shown = json.loads(block.text)
    if isinstance(shown, dict) and "media_id_string" in shown:
        fields = set(Result(id="x", path="x", status="succeeded").as_json())
        missing = fields - set(shown)
        extra = set(shown) - fields - PENDING_FIELDS
        if missing or extra:
            session.failures.append(f"{block.where}: report fields: {missing=} {extra=}")


def runnable(block: Block) -> bool:
    return (block.mark is not None and block.mark[0] == "not run") or block.lang in RUNNERS


# A hang guard: README's blocks are some 14 s of CPU in subprocesses, more than a minute
# when the suite's workers share the cores with other loads.
@pytest.mark.timeout(240)
@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_block_of_the_document_runs_against_the_emulator(doc: Path, session: Session) -> None:
    found = list(blocks(doc))
    unmarked = [b.where for b in found if not runnable(b)]
    assert not unmarked, f"blocks with no runner and no <!-- not run: why --> mark: {unmarked}"
    for index, block in enumerate(found):
        if block.mark is None or block.mark[0] != "not run":
            run_block(block, index, session)
    assert not session.failures, "\n".join(session.failures)
    assert not session.pending_passed, "\n".join(session.pending_passed)
    if session.pending_failed:
        pytest.xfail(
            "until issue [4/6]'s other branches land:\n" + "\n".join(session.pending_failed)
        )
