"""A bad manifest entry names its place (``manifest.jsonl:7``) once, wherever it is shown.

The report line of an entry that has no id of its own takes its place as id; its message
must not say the place again, or the summary (``failed <id>: <message>``) and the
``validate`` table show ``manifest.jsonl:7: manifest.jsonl:7: …``. An entry with an id
keeps the place in its message. Each kind of manifest runs ``bulkup upload`` against the
emulator and ``bulkup validate``, with every kind of bad entry it can hold.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import anyio
import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.cli.test_cli_upload import PROCESS_LIMIT_S, Run, command, env_for, upload_args
from tests.conftest import FAST, said

pytestmark = pytest.mark.anyio

BAD_UTF8 = "\udcff"  # written as the byte 0xFF (surrogateescape): not UTF-8

#: Per manifest: its text, and the line of each bad entry with what the message says.
MANIFESTS: dict[str, tuple[str, dict[int, str]]] = {
    "m.jsonl": (
        '{"path": "a.png", "id": "good"}\n'
        '{"path": "a.png", "id": "broken"\n'
        '{"id": "no-path"}\n'
        '{"path": "gone.png"}\n'
        f'{{"path": "a.png", "id": "{BAD_UTF8}"}}\n'
        '{"path": "a.png", "id": "bad-field", "media_category": "bogus"}\n',
        {
            2: "invalid JSON",
            3: 'no "path"',
            4: "no such file or directory",
            5: "not valid UTF-8",
            6: "invalid media_category",
        },
    ),
    "m.json": (
        '[{"path": "a.png", "id": "good"},\n'
        " 42,\n"
        ' {"id": "no-path"},\n'
        ' {"path": "gone.png"},\n'
        f' {{"path": "a.png", "id": "{BAD_UTF8}"}},\n'
        ' {"path": "a.png", "id": "bad-field", "media_category": "bogus"}]\n',
        {
            2: "expected a JSON object",
            3: 'no "path"',
            4: "no such file or directory",
            5: "not valid UTF-8",
            6: "invalid media_category",
        },
    ),
    "broken.json": ('[{"path": "a.png", "id": "good"},\n {"path": oops}]\n', {2: "invalid JSON"}),
    "m.csv": (
        "path,id,media_category\n"
        "a.png,good,\n"
        "a.png,too-many,tweet_image,extra\n"
        ",no-path,\n"
        "gone.png,,\n"
        f"a.png,{BAD_UTF8},\n"
        "a.png,bad-field,bogus\n",
        {
            3: "4 values but the header names 3 columns",
            4: 'no "path"',
            5: "no such file or directory",
            6: "not valid UTF-8",
            7: "invalid media_category",
        },
    ),
}


def write_manifest(root: Path, name: str) -> dict[str, str]:
    """The manifest ``name`` beside ``a.png``; returns each bad entry's place → words."""
    samples.write_image(root / "a.png", fmt="png", seed=1)
    text, bad = MANIFESTS[name]
    (root / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    return {f"{name}:{line}": words for line, words in bad.items()}


def once(place: str, text: str) -> bool:
    """``place`` occurs exactly once in ``text``, not counting it inside a longer name or
    path (``m.csv:3`` is not in ``m.csv:30``, ``gone.jsonl`` not in ``/tmp/gone.jsonl``)."""
    return len(re.findall(r"(?<![\w/.])" + re.escape(place) + r"(?!\d)", text)) == 1


@pytest.mark.parametrize("name", sorted(MANIFESTS))
async def test_each_bad_entry_names_its_place_once_in_the_report_and_the_summary(
    tmp_path: Path, name: str
) -> None:
    places = write_manifest(tmp_path, name)
    async with Emulator(FAST, environ={}) as emu:
        args = [*upload_args(emu, name), "--report", "r.jsonl", "--no-progress"]
        with anyio.fail_after(PROCESS_LIMIT_S):
            done = await anyio.run_process(
                command(*args), env=env_for(emu), cwd=tmp_path, check=False
            )
    run = Run(done.returncode, (tmp_path / "r.jsonl").read_text(), done.stderr.decode())
    assert run.code == 1, run.err
    report = {json.dumps(line, ensure_ascii=False): line for line in run.lines()}
    summary = [line for line in said(run.err).splitlines() if line.lstrip().startswith("failed ")]
    for place, words in places.items():
        [text] = [text for text in report if place in text]
        assert once(place, text) and words in report[text]["error"]["message"], text
        [shown] = [line for line in summary if place in line]
        assert once(place, shown) and words in shown, run.err
    assert len(summary) == len(places), run.err


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_validate_names_each_bad_entry_place_once(tmp_path: Path, name: str) -> None:
    places = write_manifest(tmp_path, name)
    done = subprocess.run(
        command("validate", name), env=env_for(None), cwd=tmp_path, capture_output=True, check=False
    )
    table = done.stdout.decode("utf-8", "replace")
    assert done.returncode == 1, table
    for place, words in places.items():
        [row] = [row for row in table.splitlines() if place in row]
        assert once(place, row) and words in row, table


def test_a_missing_manifest_is_named_once(tmp_path: Path) -> None:
    done = subprocess.run(
        command("validate", "gone.jsonl"), env=env_for(None), cwd=tmp_path, capture_output=True
    )
    table = done.stdout.decode()
    assert done.returncode == 1, table
    [row] = [row for row in table.splitlines() if "no such file" in row]
    assert row.startswith("gone.jsonl ") and once("gone.jsonl", row), table
