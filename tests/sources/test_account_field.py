"""The manifest's ``account`` field: which ``[accounts.NAME]`` an item is uploaded for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bulkup.core.items import Item, Result, SourceProblem
from bulkup.sources import read_manifest


@pytest.fixture
def media(tmp_path: Path) -> Path:
    (tmp_path / "media").mkdir()
    for name in ("a.jpg", "b.png"):
        (tmp_path / "media" / name).write_bytes(b"\xff\xd8\xff\xe0")
    return tmp_path / "media"


def test_an_account_in_json_and_csv_is_kept_on_the_item(tmp_path: Path, media: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    lines = [{"path": "media/a.jpg", "account": "brand-eu.2"}, {"path": "media/b.png"}]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    items = [i for i in read_manifest(manifest) if isinstance(i, Item)]
    assert [i.account for i in items] == ["brand-eu.2", None]
    csv = tmp_path / "m.csv"
    csv.write_text("path,id,account\nmedia/a.jpg,a,team_2\nmedia/b.png,b,\n")
    assert [i.account for i in read_manifest(csv) if isinstance(i, Item)] == ["team_2", None]


@pytest.mark.parametrize("bad", ["brand eu", "a/b", "x" * 65, 7, ["a"], "ü"])
def test_a_bad_account_names_the_line_and_the_fix_and_other_lines_go_on(
    tmp_path: Path, media: Path, bad: object
) -> None:
    manifest = tmp_path / "m.jsonl"
    entries = [{"path": "media/a.jpg", "account": bad}, {"path": "media/b.png", "account": "ok"}]
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))
    problem, item = list(read_manifest(manifest))
    assert isinstance(problem, SourceProblem) and problem.kind == "invalid_value"
    assert problem.source == f"{manifest}:1"
    assert "invalid account" in problem.message
    assert "letters, digits, '_', '-' or '.'" in problem.message
    assert "[accounts.NAME]" in problem.message
    assert isinstance(item, Item) and item.account == "ok"


def test_the_report_line_names_the_account_only_when_set() -> None:
    with_account = Result(id="a", path="/a.jpg", status="succeeded", account="brand")
    assert with_account.as_json()["account"] == "brand"
    assert Result.from_json(with_account.as_json()).account == "brand"
    assert "account" not in Result(id="b", path="/b.jpg", status="succeeded").as_json()
