"""A byte that is not UTF-8 fails its own record of a manifest, and only that one.

Manifests saved by another program (a spreadsheet exporting Latin-1, a file glued
together from two sources) carry the odd ``\\xe9``. Whatever the format, the record
holding it (a JSONL line, a CSV record, a JSON array element) is one failed report
line naming ``file:line`` of the byte, every other record is read, and the report has
exactly one line per record. The big manifests run ``bulkup upload --dry-run``
(reading is what is tested: every record is a report line, nothing is sent); the
small one is uploaded to the emulator, so the records around the bad one are seen
to go through byte-exact.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.cli.test_cli_upload import Run, bulkup, check_succeeded, env_for
from tests.cli.test_cli_upload import upload_args as upload
from tests.cli.test_dry_run import check_plan_line

pytestmark = pytest.mark.anyio

LATIN_1_E = b"\xe9"  # "é" as Latin-1 writes it: never valid UTF-8 on its own


async def dry_run(folder: Path, *sources: str) -> tuple[Run, list[dict[str, Any]]]:
    run = await bulkup(
        "upload", *sources, "--dry-run", "--report", "r.jsonl", env=env_for(None), cwd=folder
    )
    assert "Traceback" not in run.err, run.err
    *lines, _ = [json.loads(line) for line in (folder / "r.jsonl").read_text().splitlines()]
    for line in lines:  # the plan of each item; the last line is the plan's totals
        check_plan_line(line)
    return run, lines


def failed(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["status"] == "failed"]


def the_bad_byte(line: dict[str, Any], place: str) -> None:
    """``line`` is the failure of the record at ``place`` for a byte that is not UTF-8."""
    assert line["id"] == place, line
    assert line["error"]["kind"] == "invalid_entry", line["error"]
    message = line["error"]["message"]
    assert message.startswith("not valid UTF-8"), message  # the id names the place, once
    assert "save the manifest as UTF-8" in message, message


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return samples.write_image(tmp_path / "photo.png", fmt="png", width=16, height=16, seed=1)


async def test_a_5000_row_csv_with_a_bad_byte_on_line_3000_reports_every_row(
    tmp_path: Path, photo: Path
) -> None:
    rows = [b"path,id,alt_text"]
    rows += [b"photo.png,r%04d,Cafe %d" % (n, n) for n in range(2, 5002)]  # lines 2..5001
    rows[3000 - 1] = b"photo.png,r3000,Caf" + LATIN_1_E + b" au lait"
    (tmp_path / "rows.csv").write_bytes(b"\r\n".join(rows) + b"\r\n")

    run, lines = await dry_run(tmp_path, "rows.csv")

    assert len(lines) == 5000, run.err  # one line per record: none lost after the bad one
    (bad,) = failed(lines)
    the_bad_byte(bad, "rows.csv:3000")
    assert "(byte 20)" in bad["error"]["message"]  # where in the line: the 20th byte
    listed = {line["id"] for line in lines if line["status"] == "planned"}
    assert listed == {f"r{n:04d}" for n in range(2, 5002)} - {"r3000"}
    assert run.code == 1 and "5000 items" in run.err and "rows.csv:3000" in run.err


async def test_a_bad_byte_in_a_small_csv_is_not_blamed_on_the_header_and_the_rest_uploads(
    emulator: Emulator, tmp_path: Path
) -> None:
    files = [
        samples.write_image(tmp_path / f"p{n}.png", fmt="png", width=16, height=16, seed=n)
        for n in range(3)
    ]
    (tmp_path / "rows.csv").write_bytes(
        b"path,alt_text\n"
        b"p0.png,Before\n"
        b"p1.png,Cr" + LATIN_1_E + b"me br" + LATIN_1_E + b"l" + LATIN_1_E + b"e\n"
        b"p2.png,After\n"
    )

    run = await upload_run(emulator, tmp_path, "rows.csv")

    assert run.code == 1, run.err
    lines = {line["id"]: line for line in run.lines()}
    assert set(lines) == {"p0.png", "rows.csv:3", "p2.png"}
    the_bad_byte(lines["rows.csv:3"], "rows.csv:3")
    check_succeeded(lines["p0.png"], emulator, files[0])
    check_succeeded(lines["p2.png"], emulator, files[2])
    assert "rows.csv:1" not in run.err  # the header is fine
    assert len(emulator.all_media()) == 2  # the bad row sent nothing


async def test_a_bad_byte_in_a_quoted_csv_value_over_several_lines_names_the_line_of_the_byte(
    tmp_path: Path, photo: Path
) -> None:
    (tmp_path / "rows.csv").write_bytes(
        b"path,id,alt_text\n"  # 1
        b'photo.png,first,"A caption\n'  # 2
        b"over two lines, the second with a bad byte: " + LATIN_1_E + b'"\n'  # 3
        b"photo.png,second,Fine\n"  # 4
        b"nowhere.png,third,Missing\n"  # 5
    )

    run, lines = await dry_run(tmp_path, "rows.csv")

    assert len(lines) == 3, run.err
    the_bad_byte(lines[0], "rows.csv:3")
    assert (lines[1]["id"], lines[1]["status"]) == ("second", "planned")
    assert lines[2]["error"]["message"].startswith("rows.csv:5: ")  # lines still counted right


async def test_a_bad_byte_in_the_csv_header_is_one_failure_on_line_1_saying_so(
    tmp_path: Path, photo: Path
) -> None:
    (tmp_path / "rows.csv").write_bytes(b"path,l" + LATIN_1_E + b"gende\nphoto.png,Un\n")

    run, lines = await dry_run(tmp_path, "rows.csv")

    (line,) = lines
    the_bad_byte(line, "rows.csv:1")
    assert "header" in line["error"]["message"]
    assert run.code == 1


async def test_a_bad_byte_in_a_jsonl_line_fails_that_line_alone(
    tmp_path: Path, photo: Path
) -> None:
    entries = [json.dumps({"path": "photo.png", "id": f"e{n}"}).encode() for n in range(1, 101)]
    entries[40 - 1] = b'{"path": "photo.png", "id": "e40", "alt_text": "Caf' + LATIN_1_E + b'"}'
    (tmp_path / "list.jsonl").write_bytes(b"\n".join(entries) + b"\n")

    run, lines = await dry_run(tmp_path, "list.jsonl")

    assert len(lines) == 100, run.err
    (bad,) = failed(lines)
    the_bad_byte(bad, "list.jsonl:40")
    assert Counter(line["status"] for line in lines) == {"planned": 99, "failed": 1}


async def test_a_bad_byte_in_a_json_array_element_fails_that_element_alone(
    tmp_path: Path, photo: Path
) -> None:
    entries = [{"path": "photo.png", "id": f"e{n}", "alt_text": f"Photo {n}"} for n in range(50)]
    text = json.dumps(entries, indent=2).encode()  # each element spans five lines
    text = text.replace(b'"Photo 20"', b'"Caf' + LATIN_1_E + b'"')
    bad_line = text[: text.index(LATIN_1_E)].count(b"\n") + 1
    (tmp_path / "list.json").write_bytes(text)

    run, lines = await dry_run(tmp_path, "list.json")

    assert len(lines) == 50, run.err
    (bad,) = failed(lines)
    the_bad_byte(bad, f"list.json:{bad_line}")
    assert {line["id"] for line in lines} - {bad["id"]} == {f"e{n}" for n in range(50)} - {"e20"}


async def test_a_bad_byte_between_json_elements_leaves_every_element_read(
    tmp_path: Path, photo: Path
) -> None:
    (tmp_path / "list.json").write_bytes(
        b'[{"path": "photo.png", "id": "a"},\n'
        b"  " + LATIN_1_E + b"\n"
        b' {"path": "photo.png", "id": "b"}]\n'
    )

    run, lines = await dry_run(tmp_path, "list.json")

    assert [(line["id"], line["status"]) for line in lines] == [
        ("a", "planned"),
        ("list.json:2", "failed"),  # the stray byte is named, not hidden
        ("b", "planned"),
    ]
    the_bad_byte(lines[1], "list.json:2")
    assert run.code == 1


async def upload_run(emu: Emulator, folder: Path, *sources: str) -> Run:
    run = await bulkup(*upload(emu, *sources), env=env_for(emu), cwd=folder)
    assert "Traceback" not in run.err, run.err
    return run
