"""The fenced blocks of the documentation, and the folder and emulator they run against.

A block runs according to its language (``console``/``sh``/``bash``: command by
command; ``python``: executed; ``toml``: ``bulkup config show --config``; ``jsonl``: a
manifest for ``bulkup validate``; ``json``: parsed). A block the test cannot run says
so with ``<!-- not run: REASON -->`` on the line before it; ``<!-- file: NAME -->``
names the file a ``jsonl`` block is written to.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bulkup.media import samples

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELLS = ("console", "sh", "bash", "shell")
RUNNERS = (*SHELLS, "python", "toml", "jsonl", "json")
#: The endpoints a documented command may name: each becomes the test's emulator.
ENDPOINTS = ("http://127.0.0.1:8765", "https://api.x.com", "https://upload.twitter.com")
FENCE = re.compile(r"^```(\S*)\s*$")
MARK = re.compile(r"^<!--\s*(not run|file):\s*(.+?)\s*-->$")


@dataclass(frozen=True, slots=True)
class Block:
    doc: Path
    line: int
    lang: str
    text: str
    #: ``not run`` (with the reason) or ``file`` (with the name), from the line before.
    mark: tuple[str, str] | None

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks(doc: Path) -> Iterator[Block]:
    lines = doc.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        before = next((line.strip() for line in reversed(lines[:i]) if line.strip()), "")
        found = MARK.match(before)
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        text = "\n".join(lines[i + 1 : end]) + "\n"
        mark = (found.group(1), found.group(2)) if found else None
        yield Block(doc, i + 1, fence.group(1), text, mark)
        i = end + 1


@dataclass(frozen=True, slots=True)
class Command:
    text: str
    #: The output a console block shows after the command (for ``echo $?``).
    shown: str = ""
    #: The next command shows this one's exit status (``echo $?``): it may be non-zero.
    status_shown: bool = False


def commands(block: Block) -> list[Command]:
    """A console block's ``$ `` lines (with the output shown after each), or every
    logical line of a shell script (``\\`` continues a line; comments dropped)."""
    found: list[Command] = []
    if block.lang == "console":
        for line in block.text.splitlines():
            if line.startswith("$ "):
                found.append(Command(line[2:]))
            elif found:
                last = found[-1]
                found[-1] = Command(last.text, (last.shown + "\n" + line).strip())
        return _statuses(found)
    pending = ""
    for line in block.text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        found.append(Command(pending + line))
        pending = ""
    return _statuses(found)


def _statuses(found: list[Command]) -> list[Command]:
    return [
        Command(c.text, c.shown, status_shown=n.text.startswith("echo $?"))
        for c, n in zip(found, [*found[1:], Command("")], strict=True)
    ]


def prepare_folder(work: Path) -> None:
    """Sample media named as the documentation names them, and its config files."""
    for folder in ("photos", "clips", "anim", ".x"):
        (work / folder).mkdir()
    samples.write_image(work / "photos/team.jpg", fmt="jpeg", width=64, height=48, seed=1)
    samples.write_image(work / "photos/cat.jpg", fmt="jpeg", width=48, height=64, seed=2)
    samples.write_image(work / "photos/beach.png", width=64, height=48, seed=3)
    samples.write_image(work / "clips/poster.jpg", fmt="jpeg", width=64, height=64, seed=4)
    samples.write_video(work / "clips/launch.mp4", width=320, height=240, seconds=1)
    samples.write_gif(work / "anim/loop.gif", width=32, height=32, frames=3)
    samples.write_srt(work / "en.srt")
    (work / "clips.jsonl").write_text(
        '{"path": "clips/launch.mp4", "id": "launch", "media_category": "tweet_video"}\n'
        '{"path": "clips/poster.jpg", "alt_text": "The launch poster"}\n'
    )
    secret = work / ".x/api_secret"
    secret.write_text("bulkup-demo-consumer-secret\n")
    secret.chmod(0o600)
    shutil.copytree(ROOT / "configs", work / "configs")


def environment(work: Path, url: str) -> dict[str, str]:
    """The emulator's demo credentials and endpoint; HOME is the work folder."""
    from bulkup.emulator import DEMO_USER

    bin_dir = str(Path(sys.executable).parent)
    return {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(work),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "X_API_KEY": DEMO_USER.consumer_key,
        "X_API_SECRET": DEMO_USER.consumer_secret,
        "X_ACCESS_TOKEN": DEMO_USER.access_token,
        "X_ACCESS_TOKEN_SECRET": DEMO_USER.access_token_secret,
        "BULKUP_ENDPOINT": url,
    }


class Served:
    """``bulkup serve --port 0`` in a subprocess, with processing that takes no time."""

    def __init__(self, folder: Path) -> None:
        profile = folder / "fast.toml"
        profile.write_text("[lifetimes]\nprocessing_secs = 0\ncheck_after_secs = 0\n")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder)}
        command = [sys.executable, "-m", "bulkup", "serve", "--port", "0", "--profile"]
        self.process = subprocess.Popen(
            [*command, str(profile)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        self.url = ready_url(self.process)
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def ready_url(process: subprocess.Popen[str], seen: list[str] | None = None) -> str:
    """The URL a starting ``bulkup serve`` says it listens on (its export line); the
    lines read up to it are added to ``seen``."""
    assert process.stdout is not None
    for line in process.stdout:
        if seen is not None:
            seen.append(line)
        found = re.search(r"BULKUP_ENDPOINT='?([^'\s]+)", line)
        if found:
            return found.group(1)
    raise AssertionError(f"bulkup serve ended ({process.wait()}) without listening")
