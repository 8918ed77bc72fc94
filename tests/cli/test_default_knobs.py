"""The defaults a new user runs with are the measured ones, and every place says so.

The three knobs (requests in flight, files in flight, segments per file) were chosen by
the sweep of benchmarks/sweep.py; their chunk buffers stay within 64 MiB, and the
help, the settings and the option reference state the same values.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bulkup.cli import build_parser
from bulkup.cli.settings import resolve
from bulkup.client import config
from bulkup.client.config import UploadConfig
from bulkup.core.steps import DEFAULT_CHUNK_BYTES

ROOT = Path(__file__).resolve().parents[2]
KNOBS = {
    "--concurrency": config.DEFAULT_CONCURRENCY,
    "--files-in-flight": config.DEFAULT_FILES_IN_FLIGHT,
    "--segments-per-file": config.DEFAULT_SEGMENTS_PER_FILE,
}


def test_default_chunk_buffers_stay_within_64_mib() -> None:
    assert UploadConfig().concurrency * DEFAULT_CHUNK_BYTES <= 64 << 20


def test_upload_help_states_each_default_knob() -> None:
    helps = {
        option: action.help
        for action in _upload_parser()._actions
        for option in action.option_strings
    }
    for option, value in KNOBS.items():
        assert str(helps[option]).endswith(f"({value})"), (option, helps[option])


def test_settings_without_any_source_take_the_default_knobs() -> None:
    upload = resolve({}, environ={}).upload
    assert (upload.concurrency, upload.files_in_flight, upload.segments_per_file) == tuple(
        KNOBS.values()
    )


def test_the_option_reference_states_the_default_knobs() -> None:
    table = (ROOT / "docs" / "options.md").read_text()
    for option, value in KNOBS.items():
        row = re.search(rf"^\| `{option} N` \|.*$", table, re.M)
        assert row is not None, option
        assert f"| {value} |" in row.group(0), row.group(0)


def _upload_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    assert parser._subparsers is not None
    subcommands = parser._subparsers._group_actions[0]
    assert isinstance(subcommands, argparse._SubParsersAction)
    upload = subcommands.choices["upload"]
    assert isinstance(upload, argparse.ArgumentParser)
    return upload
