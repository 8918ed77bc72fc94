"""A folder holding a symlink to a folder (to ``/`` at worst) is scanned as itself.

By default a directory scan does not follow symlinks to folders: each one is a
``skipped`` report line saying why and naming ``--follow-symlinks``, and the scan goes
on. Symlinks to files are followed (they are files). With ``--follow-symlinks`` (or
``follow_symlinks`` in the config file's ``[sources]``, or ``BULKUP_FOLLOW_SYMLINKS``)
linked folders are scanned, but ``/proc``, ``/sys`` and ``/dev`` never are, however
they are reached. Every option a message suggests is one ``bulkup upload`` has.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.cli.test_cli_upload import Run, bulkup, check_line, check_succeeded, command, env_for
from tests.cli.test_cli_upload import upload_args as upload
from tests.cli.test_dry_run import check_plan_line

pytestmark = pytest.mark.anyio


def png(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return samples.write_image(path, fmt="png", width=16, height=16, seed=seed)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``tree/`` with two files of its own, a symlink to ``/``, one to a folder elsewhere
    and one to a file elsewhere."""
    png(tmp_path / "tree" / "a.png", 1)
    png(tmp_path / "tree" / "sub" / "b.png", 2)
    png(tmp_path / "elsewhere" / "c.png", 3)
    (tmp_path / "tree" / "root").symlink_to("/")
    (tmp_path / "tree" / "linked").symlink_to("../elsewhere")
    (tmp_path / "tree" / "c-link.png").symlink_to(tmp_path / "elsewhere" / "c.png")
    return tmp_path / "tree"


def by_id(run: Run) -> dict[str, dict[str, Any]]:
    assert "Traceback" not in run.err, run.err
    lines = [line for line in run.lines() if "total" not in line]  # a dry run's totals
    for line in lines:
        if "attempts" in line:
            check_line(line)
        else:
            check_plan_line(line)
    by = {line["id"]: line for line in lines}
    assert len(by) == len(lines), lines  # one line per entry
    return by


def skipped(line: dict[str, Any], kind: str, *words: str) -> str:
    assert line["status"] == "skipped", line
    assert line.get("media_id_string") is None, line
    assert line["error"]["kind"] == kind, line["error"]
    message: str = line["error"]["message"]
    for word in words:
        assert word in message, (word, message)
    return message


def upload_options() -> set[str]:
    """Every option ``bulkup upload --help`` lists."""
    help_text = subprocess.run(
        command("upload", "--help"), capture_output=True, text=True, check=True
    ).stdout
    return set(re.findall(r"--[a-z][a-z-]+", help_text))


def named_options(messages: list[str]) -> set[str]:
    return {option for message in messages for option in re.findall(r"--[a-z][a-z-]+", message)}


async def test_a_symlink_to_the_root_is_one_skipped_line_and_the_folder_uploads(
    emulator: Emulator, tree: Path
) -> None:
    run = await bulkup(*upload(emulator, "tree"), env=env_for(emulator), cwd=tree.parent)

    lines = by_id(run)
    assert sorted(lines) == [
        "tree/a.png",
        "tree/c-link.png",  # a symlink to a file is a file
        "tree/linked",
        "tree/root",
        "tree/sub/b.png",
    ]
    assert run.code == 0, run.err
    check_succeeded(lines["tree/a.png"], emulator, tree / "a.png")
    check_succeeded(lines["tree/sub/b.png"], emulator, tree / "sub" / "b.png")
    check_succeeded(lines["tree/c-link.png"], emulator, tree / "c-link.png")
    message = skipped(lines["tree/root"], "symlink_not_followed", "tree/root", "--follow-symlinks")
    assert "-> /" in message
    skipped(lines["tree/linked"], "symlink_not_followed", "../elsewhere", "--follow-symlinks")
    assert "5 items: 3 succeeded" in run.err and "2 skipped" in run.err
    assert len(emulator.all_media()) == 3


@pytest.mark.parametrize("how", ["flag", "environment", "config"])
async def test_follow_symlinks_scans_linked_folders_but_never_proc_sys_or_dev(
    emulator: Emulator, tree: Path, how: str
) -> None:
    (tree / "root").unlink()  # followed, it would be the whole filesystem
    for system in ("/proc", "/sys", "/dev"):
        (tree / system.strip("/")).symlink_to(system)
    (tree / "kernel").symlink_to("/sys/kernel")  # inside one of them
    env, args = env_for(emulator), upload(emulator, "tree")
    if how == "flag":
        args.append("--follow-symlinks")
    elif how == "environment":
        env["BULKUP_FOLLOW_SYMLINKS"] = "true"
    else:
        (tree.parent / "run.toml").write_text("[sources]\nfollow_symlinks = true\n")
        args += ["--config", "run.toml"]

    run = await bulkup(*args, env=env, cwd=tree.parent)

    lines = by_id(run)
    assert sorted(lines) == [
        "tree/a.png",
        "tree/c-link.png",
        "tree/dev",
        "tree/kernel",
        "tree/linked/c.png",
        "tree/proc",
        "tree/sub/b.png",
        "tree/sys",
    ]
    assert run.code == 0, run.err
    check_succeeded(lines["tree/linked/c.png"], emulator, tree / "linked" / "c.png")
    for name, target in [("dev", "/dev"), ("proc", "/proc"), ("sys", "/sys"), ("kernel", "/sys")]:
        skipped(lines[f"tree/{name}"], "system_folder", f"tree/{name}", target, "never scanned")


async def test_a_source_inside_proc_is_never_scanned(tmp_path: Path) -> None:
    run = await bulkup("upload", "/proc/self", "/sys", "--dry-run", env=env_for(None), cwd=tmp_path)

    lines = by_id(run)
    assert sorted(lines) == ["/proc/self", "/sys"]
    skipped(lines["/proc/self"], "system_folder", "/proc", "never scanned")
    skipped(lines["/sys"], "system_folder", "/sys", "never scanned")
    assert run.code == 0, run.err


async def test_every_option_a_symlink_message_names_exists(tree: Path) -> None:
    (tree / "root").unlink()
    (tree / "sub" / "up").symlink_to("..")  # back to tree/: a loop when followed
    (tree / "proc").symlink_to("/proc")
    messages = []
    for follow in ([], ["--follow-symlinks"]):
        run = await bulkup(
            "upload", "tree", "--dry-run", *follow, env=env_for(None), cwd=tree.parent
        )
        lines = by_id(run)
        messages += [line["error"]["message"] for line in lines.values() if line["error"]]
        messages.append(run.err)
        if follow:
            loop = lines["tree/sub/up"]
            assert (loop["status"], loop["error"]["kind"]) == ("failed", "symlink_loop")
        else:
            skipped(lines["tree/sub/up"], "symlink_not_followed")

    named = named_options(messages)
    assert "--follow-symlinks" in named
    assert named <= upload_options(), named - upload_options()


def test_upload_help_lists_follow_symlinks_once() -> None:
    help_text = subprocess.run(
        command("upload", "--help"), capture_output=True, text=True, check=True
    ).stdout
    assert len(re.findall(r"^ +--follow-symlinks", help_text, re.MULTILINE)) == 1
    assert "--no-follow-symlinks" not in help_text
