"""Private files: mode 0600 whatever the umask, every byte written, atomic replacement."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bulkup import privatefiles


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_0() -> Iterator[None]:
    """The most permissive umask: a file is private only if bulkup makes it so."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def short_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``os.write`` takes 3 bytes at most, as a signal or a network disk can make it."""
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:3])))


def full_after(monkeypatch: pytest.MonkeyPatch, allowed: int) -> None:
    """``os.write`` stores ``allowed`` bytes in all, then fails: the disk is full."""
    real_write = os.write
    left = [allowed]

    def write(fd: int, data: Any) -> int:
        if left[0] == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = real_write(fd, bytes(data[: left[0]]))
        left[0] -= written
        return written

    monkeypatch.setattr(os, "write", write)


# --- modes -------------------------------------------------------------------------------
@pytest.mark.usefixtures("umask_0")
def test_every_way_of_creating_a_file_makes_it_0600_whatever_the_umask(tmp_path: Path) -> None:
    os.close(privatefiles.open_fd(tmp_path / "fd", os.O_WRONLY | os.O_CREAT))
    with privatefiles.open_text(tmp_path / "text") as out:
        out.write("x\n")
    privatefiles.replace(tmp_path / "replaced", b"x\n")
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {
        "fd": 0o600,
        "text": 0o600,
        "replaced": 0o600,
    }


def test_a_file_others_could_read_is_made_private_when_opened_or_replaced(
    tmp_path: Path,
) -> None:
    opened, replaced = tmp_path / "report.jsonl", tmp_path / "token.json"
    for path in (opened, replaced):
        path.write_text("before\n")
        path.chmod(0o644)
    with privatefiles.open_text(opened, "a") as out:
        out.write("after\n")
    privatefiles.replace(replaced, b"after\n")
    assert (mode(opened), mode(replaced)) == (0o600, 0o600)
    assert opened.read_text() == "before\nafter\n"  # "a" appends
    assert replaced.read_text() == "after\n"


def test_a_text_file_opened_with_w_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_text("an older run's lines\n")
    with privatefiles.open_text(path, "w") as out:
        out.write("é\n")
    assert path.read_bytes() == "é\n".encode()


# --- complete writes ---------------------------------------------------------------------
@pytest.mark.usefixtures("short_writes")
def test_write_all_writes_every_byte_however_few_each_write_takes(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4
    fd = privatefiles.open_fd(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        privatefiles.write_all(fd, data)
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == data


def test_a_write_that_makes_no_progress_is_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fd = privatefiles.open_fd(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        with monkeypatch.context() as m, pytest.raises(OSError) as caught:
            m.setattr(os, "write", lambda fd, data: 0)
            privatefiles.write_all(fd, b"data")
    finally:
        os.close(fd)
    assert caught.value.errno == errno.ENOSPC


# --- atomic replacement ------------------------------------------------------------------
@pytest.mark.usefixtures("short_writes")
def test_a_replaced_file_is_whole_however_few_bytes_each_write_takes(tmp_path: Path) -> None:
    data = b'{"access_token": "' + b"a" * 200 + b'"}\n'
    privatefiles.replace(tmp_path / "token.json", data)
    assert (tmp_path / "token.json").read_bytes() == data


def test_a_reader_of_the_old_file_sees_it_whole_while_it_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_bytes(b"old content\n")
    with path.open("rb") as reader:  # opened before: a rename leaves it the old file
        privatefiles.replace(path, b"new\n")
        assert reader.read() == b"old content\n"
    assert path.read_bytes() == b"new\n"


@pytest.mark.parametrize("allowed", [0, 5], ids=["nothing-written", "half-written"])
def test_a_replacement_that_fails_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allowed: int
) -> None:
    path = tmp_path / "token.json"
    privatefiles.replace(path, b"old content\n")
    with monkeypatch.context() as m, pytest.raises(OSError) as caught:
        full_after(m, allowed)
        privatefiles.replace(path, b"new content that does not fit\n")
    assert caught.value.errno == errno.ENOSPC
    assert path.read_bytes() == b"old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["token.json"]


def test_a_replacement_whose_rename_fails_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token.json"

    def refuse(src: Any, dst: Any) -> None:
        raise PermissionError(errno.EACCES, "refused")

    with monkeypatch.context() as m, pytest.raises(PermissionError):
        m.setattr(os, "replace", refuse)
        privatefiles.replace(path, b"new\n")
    assert list(tmp_path.iterdir()) == []


def test_a_replacement_is_made_durable_file_first_then_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[tuple[str, bool]] = []  # (what, was it the folder)
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        folder = stat.S_ISDIR(os.fstat(fd).st_mode)
        synced.append(("folder" if folder else "file", (tmp_path / "t").exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    privatefiles.replace(tmp_path / "t", b"x")
    # the file before the rename (not there yet under its name), the folder after it
    assert synced == [("file", False), ("folder", True)]
