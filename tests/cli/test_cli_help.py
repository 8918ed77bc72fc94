"""``bulkup --help`` and every subcommand's help are complete: each command has a
description and each option and argument says what it does."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bulkup.cli import build_parser


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


ALL = list(commands(build_parser()))


def test_every_command_is_listed_with_a_summary() -> None:
    names = {path for path, _ in ALL}
    expected = {("upload",), ("status",), ("demo",), ("validate",), ("config", "show"), ("serve",)}
    assert expected <= names
    parser = build_parser()
    assert parser._subparsers is not None
    top = parser._subparsers._group_actions[0]
    assert isinstance(top, argparse._SubParsersAction)
    for choice in top._choices_actions:
        assert choice.help, choice.dest


@pytest.mark.parametrize(("path", "parser"), ALL[1:], ids=[" ".join(p) for p, _ in ALL[1:]])
def test_every_command_has_a_description_and_every_option_a_help_text(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    assert parser.description, f"bulkup {' '.join(path)} has no description"
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        assert action.help, f"bulkup {' '.join(path)}: {action.option_strings or action.dest}"


def test_the_top_level_help_shows_examples_credentials_and_exit_codes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bulkup", "--help"], capture_output=True, text=True, check=True
    ).stdout

    for text in ("bulkup demo", "X_API_KEY", "X_BEARER_TOKEN", "BULKUP_CONFIG", "exit status"):
        assert text in out


def test_a_reader_that_leaves_ends_the_command_quietly_with_141() -> None:
    """``bulkup … | head``: once the reader is gone, no traceback (it was a
    BrokenPipeError, twice: once more when Python flushed stdout at exit)."""
    read, write = os.pipe()
    os.close(read)  # the reader left before the first line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bulkup", "config", "show"],
            stdout=write,
            stderr=subprocess.PIPE,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr
