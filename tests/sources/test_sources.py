"""bulkup.sources turns manifests, directories and files into items, and every bad entry
into a problem that names its place and the fix while the other entries go on."""

from __future__ import annotations

import builtins
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from bulkup.core.items import Item, SourceProblem
from bulkup.media.probe import SNIFF_BYTES
from bulkup.sources import SourceOptions, iter_sources, read_manifest, scan_directory

#: The first bytes of a JPEG: what a scan reads to take a file as media.
JPEG_HEAD = b"\xff\xd8\xff\xe0"
JSONL_FIX = 'each line must be one JSON object like {"path": "a.jpg"}'


def write(path: Path, data: str | bytes = JPEG_HEAD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def jsonl(path: Path, *entries: Any) -> Path:
    """A JSONL manifest; dict entries are dumped, strings are written as raw lines."""
    lines = [e if isinstance(e, str) else json.dumps(e, ensure_ascii=False) for e in entries]
    return write(path, "\n".join(lines) + "\n")


def split(results: Iterable[Item | SourceProblem]) -> tuple[list[Item], list[SourceProblem]]:
    out = list(results)
    items = [r for r in out if isinstance(r, Item)]
    problems = [r for r in out if isinstance(r, SourceProblem)]
    assert len(items) + len(problems) == len(out)
    return items, problems


def ids(results: Iterable[Item | SourceProblem]) -> list[str]:
    return [r.id for r in results]


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """A folder with a.jpg and b.png (one byte each) next to where manifests go."""
    write(tmp_path / "media" / "a.jpg")
    write(tmp_path / "media" / "b.png")
    return tmp_path / "media"


# --- JSONL ---------------------------------------------------------------------------
def test_jsonl_entries_become_items_with_every_field(tmp_path: Path, media: Path) -> None:
    entry = {
        "path": "media/a.jpg",
        "id": "cover",
        "media_category": "tweet_image",
        "media_type": "image/jpeg",
        "alt_text": "A cat",
        "additional_owners": ["12", 34],
        "shared": True,
    }
    manifest = jsonl(tmp_path / "m.jsonl", entry)
    [item] = list(read_manifest(manifest))
    assert item == Item(
        id="cover",
        path=media / "a.jpg",
        media_type="image/jpeg",
        media_category="tweet_image",
        alt_text="A cat",
        additional_owners=("12", "34"),
        shared=True,
        source=f"{manifest}:1",
    )
    assert item.path.is_absolute()


def test_jsonl_skips_blank_lines_and_comments_but_counts_them(tmp_path: Path, media: Path) -> None:
    manifest = write(
        tmp_path / "m.jsonl",
        '# exported 2024-05-01\r\n\r\n   \n  # indented comment\n{"path": "media/a.jpg"}\r\n',
    )
    [item] = list(read_manifest(manifest))
    assert item.source == f"{manifest}:5"


def test_invalid_json_line_names_file_line_column_and_fix(
    tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    jsonl(tmp_path / "photos.jsonl", *[{"path": "media/a.jpg", "id": str(i)} for i in range(11)])
    with (tmp_path / "photos.jsonl").open("a") as f:
        f.write('{"path": "x.jpg" "id": 3}\n{"path": "media/b.png"}\n')
    items, [problem] = split(read_manifest("photos.jsonl"))
    assert len(items) == 12 and items[-1].source == "photos.jsonl:13"
    # The id names the place: the message does not say it again.
    assert problem.message == "invalid JSON (Expecting ',' delimiter: column 18) — " + JSONL_FIX
    assert (problem.kind, problem.source, problem.id) == (
        "invalid_entry",
        "photos.jsonl:12",
        "photos.jsonl:12",
    )


@pytest.mark.parametrize(
    ("line", "kind", "says"),
    [
        ('{"path": "a.jpg",', "invalid_entry", "invalid JSON"),
        ('["media/a.jpg"]', "invalid_entry", "found an array"),
        ('"media/a.jpg"', "invalid_entry", "found a string"),
        ("null", "invalid_entry", "found null"),
        ('{"id": "x"}', "invalid_entry", 'no "path"'),
        ('{"path": 7}', "invalid_value", "invalid path 7"),
        ('{"path": ""}', "invalid_value", "invalid path ''"),
        (b'{"path": "\xff.jpg"}', "invalid_entry", "not valid UTF-8"),
    ],
)
def test_malformed_jsonl_line_is_a_problem_and_other_lines_proceed(
    tmp_path: Path, media: Path, line: str | bytes, kind: str, says: str
) -> None:
    raw = line if isinstance(line, bytes) else line.encode()
    manifest = write(
        tmp_path / "m.jsonl", b'{"path": "media/a.jpg"}\n' + raw + b'\n{"path": "media/b.png"}\n'
    )
    items, [problem] = split(read_manifest(manifest))
    assert [i.source for i in items] == [f"{manifest}:1", f"{manifest}:3"]
    assert (problem.kind, problem.source, problem.id) == (kind, f"{manifest}:2", f"{manifest}:2")
    assert f"{manifest}" not in problem.message and says in problem.message  # the id names it
    assert " — " in problem.message  # the fix follows the problem


# --- entry fields --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("media_category", "tweet_photo", "tweet_image, dm_image, tweet_gif"),
        ("media_category", 3, "any case style"),
        ("media_type", "jpeg", 'like "image/jpeg"'),
        ("media_type", "image/", "invalid media_type"),
        ("alt_text", "x" * 1001, "at most 1000"),
        ("alt_text", 5, "as a string"),
        ("additional_owners", ["12", "bob"], "numeric user ids"),
        ("additional_owners", [str(i) for i in range(101)], "at most 100"),
        ("additional_owners", {"a": 1}, "numeric user ids"),
        ("shared", "maybe", "true or false"),
        ("id", "", "non-empty string"),
        ("id", ["a"], "non-empty string"),
        ("priority", "high", "whole number such as 10 or -1: higher goes first"),
        ("priority", 1.5, "whole number"),
        ("priority", True, "whole number"),
    ],
)
def test_invalid_field_value_is_named_with_allowed_values(
    tmp_path: Path, media: Path, field: str, value: object, says: str
) -> None:
    manifest = jsonl(tmp_path / "m.jsonl", {"path": "media/a.jpg", field: value})
    [problem] = list(read_manifest(manifest))
    assert isinstance(problem, SourceProblem) and problem.kind == "invalid_value"
    assert field.split("_")[0] in problem.message and says in problem.message
    assert problem.path == str(media / "a.jpg")


def test_limits_themselves_are_accepted(tmp_path: Path, media: Path) -> None:
    owners = [str(i) for i in range(100)]
    entry = {"path": "media/a.jpg", "alt_text": "é" * 1000, "additional_owners": owners}
    [item] = list(read_manifest(jsonl(tmp_path / "m.jsonl", entry)))
    assert isinstance(item, Item) and len(item.additional_owners) == 100


@pytest.mark.parametrize("style", ["TweetImage", "TWEET_IMAGE", "tweet-image", "tweetimage"])
def test_media_category_in_any_case_style_becomes_canonical(
    tmp_path: Path, media: Path, style: str
) -> None:
    manifest = jsonl(tmp_path / "m.jsonl", {"path": "media/a.jpg", "media_category": style})
    [item] = list(read_manifest(manifest))
    assert isinstance(item, Item) and item.media_category == "tweet_image"


def test_default_category_applies_only_to_entries_without_one(tmp_path: Path, media: Path) -> None:
    manifest = jsonl(
        tmp_path / "m.jsonl",
        {"path": "media/a.jpg"},
        {"path": "media/b.png", "media_category": "dm_image"},
    )
    items, _ = split(iter_sources([manifest], SourceOptions(default_category="TweetImage")))
    assert [i.media_category for i in items] == ["tweet_image", "dm_image"]
    items, _ = split(read_manifest(manifest, default_category="dm_gif"))
    assert [i.media_category for i in items] == ["dm_gif", "dm_image"]


def test_id_defaults_to_the_path_exactly_as_written(tmp_path: Path, media: Path) -> None:
    manifest = jsonl(
        tmp_path / "m.jsonl", {"path": "./media//a.jpg"}, {"path": "media/b.png", "id": 42}
    )
    assert ids(read_manifest(manifest)) == ["./media//a.jpg", "42"]


def test_unknown_fields_are_kept_in_extra_unchanged(tmp_path: Path, media: Path) -> None:
    extra = {"caption": "Hello", "tags": ["a", "b"], "meta": {"n": 1.5, "ok": None}}
    [item] = list(read_manifest(jsonl(tmp_path / "m.jsonl", {"path": "media/a.jpg", **extra})))
    assert isinstance(item, Item) and item.extra == extra


# --- paths ---------------------------------------------------------------------------
def test_relative_paths_resolve_against_the_manifest_folder_not_the_cwd(
    tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "lists" / "sub" / "c.gif")
    jsonl(
        tmp_path / "lists" / "m.jsonl",
        {"path": "../media/a.jpg"},
        {"path": "sub/c.gif"},
        {"path": str(media / "b.png")},
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    items = list(iter_sources([Path("../lists/m.jsonl")]))
    assert [i.path for i in items] == [
        media / "a.jpg",
        tmp_path / "lists" / "sub" / "c.gif",
        media / "b.png",
    ]
    assert items[0].source == "../lists/m.jsonl:1"


def test_tilde_expands_to_home(
    tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    [item] = list(read_manifest(jsonl(tmp_path / "x" / "m.jsonl", {"path": "~/media/a.jpg"})))
    assert isinstance(item, Item)
    assert (item.id, item.path) == ("~/media/a.jpg", media / "a.jpg")


def test_missing_entry_file_names_the_resolved_path_and_manifest_folder(
    tmp_path: Path,
) -> None:
    manifest = jsonl(tmp_path / "m.jsonl", {"path": "gone.jpg"})
    [problem] = list(read_manifest(manifest))
    assert isinstance(problem, SourceProblem) and problem.kind == "missing_file"
    assert problem.id == "gone.jpg" and problem.path == str(tmp_path / "gone.jpg")
    assert str(tmp_path / "gone.jpg") in problem.message
    assert f"relative paths start at {tmp_path}" in problem.message


def test_unicode_and_spaces_in_paths_work_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "Été 2024/déjà vu 🐈 #1.jpg"
    write(tmp_path / "my photos" / name)
    jsonl(tmp_path / "my photos" / "liste à faire.jsonl", {"path": name})
    write(tmp_path / "my photos" / "ça.csv", f'path,alt_text\n"{name}",chat\n')
    monkeypatch.chdir(tmp_path)
    sources = ["my photos/liste à faire.jsonl", "my photos/ça.csv", "my photos"]
    items, problems = split(iter_sources(sources, SourceOptions(include=("*.jpg",))))
    assert [p.kind for p in problems] == ["duplicate_id"]  # the CSV repeats the JSONL's id
    assert [i.id for i in items] == [name, f"my photos/{name}"]
    assert all(i.path == tmp_path / "my photos" / name for i in items)


# --- JSON ----------------------------------------------------------------------------
def test_json_array_entries_carry_the_line_they_start_on(tmp_path: Path, media: Path) -> None:
    text = '[\n  {"path": "media/a.jpg"},\n\n  {\n    "path": "media/b.png"\n  }\n]\n'
    manifest = write(tmp_path / "m.json", text)
    assert [i.source for i in read_manifest(manifest)] == [f"{manifest}:2", f"{manifest}:4"]


def test_json_non_object_element_is_a_problem_and_others_proceed(
    tmp_path: Path, media: Path
) -> None:
    manifest = write(tmp_path / "m.json", '[{"path": "media/a.jpg"},\n 7,\n {"id": "x"}]')
    items, problems = split(read_manifest(manifest))
    assert len(items) == 1
    assert [(p.source, p.kind) for p in problems] == [
        (f"{manifest}:2", "invalid_entry"),
        (f"{manifest}:3", "invalid_entry"),
    ]
    assert "found a number" in problems[0].message and 'no "path"' in problems[1].message


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ('{"path": "a.jpg"}', "", "expected a top-level JSON array, found an object"),
        ('[{"path": "a.jpg"},\n {"path": "b.jpg"},\n]', ":3", "invalid JSON (Expecting value"),
        ('[{"path": "a.jpg"}\n {"path": "b.jpg"}]', ":2", "Expecting ',' delimiter"),
        ('[{"path": "a.jpg"}] []', ":1", "Extra data"),
        ("[\n{", ":2", "invalid JSON"),
    ],
)
def test_malformed_json_file_is_one_problem_naming_the_place(
    tmp_path: Path, media: Path, text: str, where: str, says: str
) -> None:
    manifest = write(tmp_path / "m.json", text)
    [problem] = list(read_manifest(manifest))
    assert isinstance(problem, SourceProblem) and problem.kind == "invalid_entry"
    assert problem.source == f"{manifest}{where}"
    assert says in problem.message and 'like [{"path": "a.jpg"}]' in problem.message


def test_json_empty_array_gives_nothing(tmp_path: Path) -> None:
    assert list(read_manifest(write(tmp_path / "m.json", " [ ]\n"))) == []


def test_priority_is_a_whole_number_in_json_and_in_csv(tmp_path: Path, media: Path) -> None:
    entries = [{"path": "media/a.jpg", "priority": 10}, {"path": "media/b.png", "id": "b"}]
    items = list(read_manifest(jsonl(tmp_path / "m.jsonl", *entries)))
    assert [i.priority for i in items if isinstance(i, Item)] == [10, 0]
    csv = write(tmp_path / "m.csv", "path,id,priority\nmedia/a.jpg,a,-2\nmedia/b.png,b,\n")
    assert [i.priority for i in read_manifest(csv) if isinstance(i, Item)] == [-2, 0]


# --- CSV -----------------------------------------------------------------------------
def test_csv_rows_become_items_with_typed_fields(tmp_path: Path, media: Path) -> None:
    manifest = write(
        tmp_path / "m.csv",
        "\ufeffPath,id,Media_Category,alt_text,additional_owners,shared,album,empty\n"
        'media/a.jpg,one,TWEET_IMAGE,"A cat, asleep","12, 34",yes,summer,\n'
        "media/a.jpg,two,,,56 78,NO,,\n"
        "media/b.png,three,,,,1,,\n"
        "media/b.png,four,,,,false,,\n",
    )
    items = list(read_manifest(manifest))
    assert all(isinstance(i, Item) for i in items)
    one = items[0]
    assert isinstance(one, Item)
    assert (one.media_category, one.alt_text, one.additional_owners, one.shared) == (
        "tweet_image",
        "A cat, asleep",
        ("12", "34"),
        True,
    )
    assert one.extra == {"album": "summer"}  # empty unknown columns are left out
    assert [i.additional_owners for i in items if isinstance(i, Item)][1] == ("56", "78")
    assert [i.shared for i in items if isinstance(i, Item)] == [True, False, True, False]
    assert [i.source for i in items] == [f"{manifest}:{n}" for n in (2, 3, 4, 5)]


def test_csv_without_path_column_is_one_problem_naming_header_and_fix(
    tmp_path: Path, media: Path
) -> None:
    manifest = write(tmp_path / "m.csv", "file,alt_text\nmedia/a.jpg,hi\nmedia/b.png,yo\n")
    [problem] = list(read_manifest(manifest))
    assert isinstance(problem, SourceProblem) and problem.kind == "invalid_entry"
    assert problem.source == f"{manifest}:1"
    assert "(file, alt_text)" in problem.message and '"path" column' in problem.message
    assert "the first row must name the columns" in problem.message


def test_csv_with_only_blank_lines_has_no_header(tmp_path: Path) -> None:
    [problem] = list(read_manifest(write(tmp_path / "m.csv", "\n\n")))
    assert isinstance(problem, SourceProblem) and "no header row" in problem.message


def test_csv_bad_row_is_a_problem_and_other_rows_proceed(tmp_path: Path, media: Path) -> None:
    manifest = write(
        tmp_path / "m.csv",
        "path,alt_text\nmedia/a.jpg,hi\nmedia/b.png,a, b\n,\n\nmedia/b.png,ok\nmedia/b.png,x\n",
    )
    items, problems = split(read_manifest(manifest))
    assert [i.source for i in items] == [f"{manifest}:2", f"{manifest}:6"]
    assert [(p.source, p.kind) for p in problems] == [
        (f"{manifest}:3", "invalid_entry"),
        (f"{manifest}:7", "duplicate_id"),
    ]
    assert "3 values but the header names 2 columns" in problems[0].message


# --- files ---------------------------------------------------------------------------
def test_missing_source_is_one_problem_and_other_sources_proceed(
    tmp_path: Path, media: Path
) -> None:
    missing = tmp_path / "nope.jsonl"
    other = write(tmp_path / "other.gif")
    items, [problem] = split(iter_sources([other, missing, media]))
    assert [i.id for i in items] == [str(other), f"{media}/a.jpg", f"{media}/b.png"]
    assert (problem.kind, problem.id, problem.source) == (
        "missing_file",
        str(missing),
        str(missing),
    )
    assert "no such file or directory" in problem.message


def test_single_file_source_is_one_item_whose_id_is_the_path_as_given(
    tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    [item] = list(iter_sources(["./media/a.jpg"], SourceOptions(default_category="dm_image")))
    assert isinstance(item, Item)
    assert (item.id, item.path, item.media_category) == (
        "./media/a.jpg",
        media / "a.jpg",
        "dm_image",
    )


def test_zero_byte_files_are_empty_file_problems(tmp_path: Path) -> None:
    write(tmp_path / "d" / "empty.jpg", b"")
    manifest = jsonl(tmp_path / "m.jsonl", {"path": "d/empty.jpg", "id": "e"})
    sources = [
        manifest,
        tmp_path / "d",
        write(tmp_path / "e.png", b""),
        write(tmp_path / "z.csv", b""),
    ]
    _, results = split(iter_sources(sources))
    assert [r.kind for r in results] == ["empty_file"] * 4
    assert [r.source for r in results] == [
        f"{manifest}:1",
        f"{tmp_path}/d/empty.jpg",
        *map(str, sources[2:]),
    ]
    assert "is empty (0 bytes) — remove it or replace the file" in results[0].message


def test_directory_where_a_file_is_expected_is_not_a_file(tmp_path: Path, media: Path) -> None:
    [problem] = list(read_manifest(jsonl(tmp_path / "m.jsonl", {"path": "media"})))
    assert isinstance(problem, SourceProblem) and problem.kind == "not_a_file"
    assert "is a directory" in problem.message and "give the folder as a source" in problem.message


def test_named_pipe_is_not_a_file_and_is_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")  # opening it would block this test forever
    [problem] = list(read_manifest(jsonl(tmp_path / "m.jsonl", {"path": "pipe.jpg"})))
    assert isinstance(problem, SourceProblem) and problem.kind == "not_a_file"
    assert "named pipe" in problem.message


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: chmod 000 does not stop root reading; see the os.access test",
)
def test_file_without_read_permission_is_unreadable(tmp_path: Path) -> None:
    locked = write(tmp_path / "locked.jpg")
    locked.chmod(0)
    try:
        [problem] = list(read_manifest(jsonl(tmp_path / "m.jsonl", {"path": "locked.jpg"})))
    finally:
        locked.chmod(0o600)
    assert isinstance(problem, SourceProblem) and problem.kind == "unreadable"


def test_file_the_os_says_is_unreadable_is_reported_with_the_fix(
    tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs as root too: os.access is what refuses (as it does for other users on chmod 000)."""
    denied = {str(media / "a.jpg"), str(tmp_path / "locked.jsonl")}
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: str(p) not in denied and real_access(p, m))
    locked = jsonl(tmp_path / "locked.jsonl", {"path": "media/b.png"})
    manifest = jsonl(tmp_path / "m.jsonl", {"path": "media/a.jpg"}, {"path": "media/b.png"})
    items, problems = split(iter_sources([locked, manifest]))
    assert [i.id for i in items] == ["media/b.png"]
    assert [(p.source, p.kind) for p in problems] == [
        (str(locked), "unreadable"),
        (f"{manifest}:1", "unreadable"),
    ]
    assert "chmod u+r" in problems[1].message


def test_duplicate_ids_across_two_manifests_name_where_the_first_came_from(
    tmp_path: Path, media: Path
) -> None:
    first = jsonl(tmp_path / "one.jsonl", {"path": "media/a.jpg", "id": "x"})
    second = write(tmp_path / "two.csv", "path,id\nmedia/b.png,y\nmedia/b.png,x\nmedia/a.jpg,x\n")
    items, problems = split(iter_sources([first, second]))
    assert [i.id for i in items] == ["x", "y"]
    assert [(p.id, p.source, p.kind) for p in problems] == [
        (f"{second}:3", f"{second}:3", "duplicate_id"),  # the id "x" stays the first's
        (f"{second}:4", f"{second}:4", "duplicate_id"),
    ]
    assert f"first at {first}:1" in problems[0].message


def test_a_manifest_entry_that_says_more_is_kept_over_a_folder_entry_for_the_same_file(
    tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    jsonl(
        tmp_path / "m.jsonl",
        {"path": "media/a.jpg", "alt_text": "A cat"},  # says more: kept
        {"path": "media/b.png"},  # says nothing more: the folder's entry came first
    )
    results = list(iter_sources(["media", "m.jsonl"]))
    items, problems = split(results)
    assert len(results) == 4  # every entry accounted for
    assert [(i.id, i.source, i.alt_text) for i in items] == [
        ("media/b.png", "media", None),
        ("media/a.jpg", "m.jsonl:1", "A cat"),
    ]
    assert [(p.id, p.kind, p.path) for p in problems] == [
        ("media/a.jpg (in folder media)", "duplicate_id", str(media / "a.jpg")),
        ("m.jsonl:2", "duplicate_id", str(media / "b.png")),
    ]
    assert "kept: the entry at m.jsonl:1, which says more" in problems[0].message
    assert "first at media/b.png" in problems[1].message


def test_a_folder_read_after_a_manifest_yields_under_its_own_place(
    tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    jsonl(tmp_path / "m.jsonl", {"path": "media/a.jpg"})
    items, problems = split(iter_sources(["m.jsonl", "media"]))
    assert [(i.id, i.source) for i in items] == [
        ("media/a.jpg", "m.jsonl:1"),
        ("media/b.png", "media"),
    ]
    (problem,) = problems
    assert (problem.id, problem.kind) == ("media/a.jpg (in folder media)", "duplicate_id")
    assert "first at m.jsonl:1" in problem.message


def test_a_manifest_entry_saying_more_but_invalid_leaves_the_folder_entry_kept(
    tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    jsonl(tmp_path / "m.jsonl", {"path": "media/a.jpg", "shared": "perhaps"})
    items, problems = split(iter_sources(["media", "m.jsonl"]))
    assert [(i.id, i.source) for i in items] == [("media/a.jpg", "media"), ("media/b.png", "media")]
    assert [(p.id, p.kind) for p in problems] == [("m.jsonl:1", "duplicate_id")]


def test_the_same_manifest_twice_duplicates_every_entry(tmp_path: Path, media: Path) -> None:
    manifest = jsonl(tmp_path / "m.jsonl", {"path": "media/a.jpg"}, "not json")
    results = list(iter_sources([manifest, manifest]))
    kinds = [r.kind if isinstance(r, SourceProblem) else "item" for r in results]
    assert kinds == ["item", "invalid_entry", "duplicate_id", "invalid_entry"]


def test_manifest_format_is_chosen_by_suffix(tmp_path: Path, media: Path) -> None:
    line = '{"path": "media/a.jpg"}\n'
    sources = [write(tmp_path / "a.ndjson", line), write(tmp_path / "B.JSONL", line)]
    text_file = write(tmp_path / "notes.txt", line)  # not a manifest: an item itself
    results = list(read_manifest(sources[0])) + list(iter_sources([sources[1], text_file]))
    assert [r.id for r in results] == ["media/a.jpg", "media/a.jpg", str(text_file)]
    with pytest.raises(ValueError, match=r"not a manifest.*\.csv, \.json, \.jsonl, \.ndjson"):
        read_manifest(text_file)


# --- directories ---------------------------------------------------------------------
@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """photos/ with nested folders, raw files, hidden files; cwd is its parent."""
    for rel in [
        "b.jpg",
        "a.png",
        "2024/z.jpg",
        "2024/05/x.JPG",
        "2024/05/y.jpg",
        "raw/r.cr2",
        "raw/deep/s.jpg",
        ".hidden.jpg",
        ".cache/c.jpg",
        "notes.jsonl",
    ]:
        write(tmp_path / "photos" / rel, JPEG_HEAD + rel.encode())
    monkeypatch.chdir(tmp_path)
    return tmp_path / "photos"


ALL = [
    "2024/05/x.JPG",
    "2024/05/y.jpg",
    "2024/z.jpg",
    "a.png",
    "b.jpg",
    "notes.jsonl",
    "raw/deep/s.jpg",
    "raw/r.cr2",
]


def test_directory_scan_is_recursive_sorted_and_ids_are_prefixed_posix_paths(
    tree: Path,
) -> None:
    items = list(iter_sources(["photos"]))
    assert ids(items) == [f"photos/{rel}" for rel in ALL]
    assert all(isinstance(i, Item) for i in items)
    assert [i.path for i in items if isinstance(i, Item)] == [tree / rel for rel in ALL]
    assert ids(scan_directory("photos/")) == ids(items)
    assert ids(scan_directory(tree))[0] == f"{tree}/2024/05/x.JPG"
    assert ids(scan_directory("./photos/2024"))[-1] == "photos/2024/z.jpg"


def test_directory_items_are_left_to_sniffing_with_the_default_category(tree: Path) -> None:
    items = list(scan_directory("photos", SourceOptions(default_category="tweet_gif")))
    assert {(i.media_type, i.media_category, i.source) for i in items if isinstance(i, Item)} == {
        (None, "tweet_gif", "photos")
    }


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (("*.jpg",), (), ["2024/05/y.jpg", "2024/z.jpg", "b.jpg", "raw/deep/s.jpg"]),
        (("**/*.jpg",), (), ["2024/05/y.jpg", "2024/z.jpg", "b.jpg", "raw/deep/s.jpg"]),
        (("*.[jJ][pP][gG]",), ("raw",), ["2024/05/x.JPG", "2024/05/y.jpg", "2024/z.jpg", "b.jpg"]),
        (("2024/*",), (), ["2024/z.jpg"]),
        (("2024/**",), ("*/05/*",), ["2024/z.jpg"]),
        (("/b.jpg", "a.p?g"), (), ["a.png", "b.jpg"]),
        ((), ("raw/**", "*.jsonl", "[!a-z0-9]*"), ALL[:5]),
        ((), ("**",), []),
    ],
)
def test_include_and_exclude_globs_match_the_relative_path(
    tree: Path, include: tuple[str, ...], exclude: tuple[str, ...], expected: list[str]
) -> None:
    options = SourceOptions(include=include, exclude=exclude)
    assert ids(scan_directory("photos", options)) == [f"photos/{rel}" for rel in expected]


def test_excluded_folder_is_not_entered(tree: Path) -> None:
    os.symlink("missing-target", tree / "raw" / "dangling.jpg")
    assert "photos/raw/dangling.jpg" in ids(scan_directory("photos"))
    assert ids(scan_directory("photos", SourceOptions(exclude=("raw",)))) == [
        f"photos/{rel}" for rel in ALL[:6]
    ]


def test_hidden_files_and_folders_are_skipped_unless_asked_for(tree: Path) -> None:
    assert not any("/." in i for i in ids(scan_directory("photos")))
    shown = ids(scan_directory("photos", SourceOptions(hidden=True)))
    assert shown[:2] == ["photos/.cache/c.jpg", "photos/.hidden.jpg"] and len(shown) == 10


def test_symlink_loop_is_reported_once_and_the_scan_goes_on(tree: Path) -> None:
    os.symlink("..", tree / "2024" / "05" / "up")  # photos/2024/05/up -> photos/2024
    os.symlink(tree, tree / "raw" / "home")  # absolute link to the root
    os.symlink("l2", tree / "l1")
    os.symlink("l1", tree / "l2")  # l1 -> l2 -> l1
    items, problems = split(scan_directory("photos", SourceOptions(follow_symlinks=True)))
    assert ids(items) == [f"photos/{rel}" for rel in ALL]
    assert [(p.id, p.kind) for p in problems] == [
        ("photos/2024/05/up", "symlink_loop"),
        ("photos/l1", "symlink_loop"),
        ("photos/l2", "symlink_loop"),
        ("photos/raw/home", "symlink_loop"),
    ]
    assert "leads back to a folder above it" in problems[0].message


def test_broken_symlink_is_a_missing_file(tree: Path) -> None:
    os.symlink("gone.jpg", tree / "2024" / "link.jpg")
    [problem] = [r for r in scan_directory("photos") if isinstance(r, SourceProblem)]
    assert (problem.id, problem.kind) == ("photos/2024/link.jpg", "missing_file")
    assert "broken symlink" in problem.message and "gone.jpg" in problem.message


def test_symlinks_are_followed_without_resolving_the_path(tree: Path, tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "e.jpg")
    os.symlink(tmp_path / "elsewhere", tree / "ext")
    os.symlink("b.jpg", tree / "link.jpg")
    followed = SourceOptions(follow_symlinks=True)
    items = {i.id: i for i in scan_directory("photos", followed) if isinstance(i, Item)}
    assert items["photos/ext/e.jpg"].path == tree / "ext" / "e.jpg"
    assert items["photos/link.jpg"].path == tree / "link.jpg"
    files, problems = split(scan_directory("photos"))  # by default: links to files only
    assert ids(files) == sorted(f"photos/{rel}" for rel in [*ALL, "link.jpg"])
    assert [(p.id, p.kind, p.status) for p in problems] == [
        ("photos/ext", "symlink_not_followed", "skipped")
    ]


def test_a_scan_reads_the_head_of_each_file_it_meets_and_opens_nothing_else(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan reads the first bytes of each file it takes (to tell media from other
    files), once, and no more; a file named alone is only stat'ed."""
    real_open, reads = builtins.open, list[tuple[str, int]]()

    def spy(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        assert mode == "rb", (file, mode)
        handle = real_open(file, mode, *args, **kwargs)
        read = handle.read
        handle.read = lambda n=-1: reads.append((file, n)) or read(n)  # type: ignore[method-assign,func-returns-value]
        return handle

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(os, "open", None)  # nothing opens a file by descriptor
    assert len(ids(iter_sources(["photos", "photos/a.png"]))) == len(ALL) + 1
    assert reads == [(str(tree / rel), SNIFF_BYTES) for rel in ALL]


def test_scan_directory_on_a_file_or_nothing_is_a_problem(tree: Path) -> None:
    [not_dir] = list(scan_directory("photos/a.png"))
    [missing] = list(scan_directory("nothing"))
    assert isinstance(not_dir, SourceProblem) and not_dir.kind == "not_a_file"
    assert isinstance(missing, SourceProblem) and missing.kind == "missing_file"


# --- options and scale ---------------------------------------------------------------
def test_source_options_are_validated_and_normalized() -> None:
    options = SourceOptions(include=["*.jpg"], default_category="TWEET_VIDEO")  # type: ignore[arg-type]
    assert (options.include, options.default_category) == (("*.jpg",), "tweet_video")
    with pytest.raises(TypeError, match="tuple of glob patterns"):
        SourceOptions(include="*.jpg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected one of: tweet_image"):
        SourceOptions(default_category="photo")
    with pytest.raises(TypeError, match="sequence of paths"):
        iter_sources("photos")


def test_large_jsonl_manifest_is_streamed(tmp_path: Path, media: Path) -> None:
    lines = [f'{{"path": "media/a.jpg", "id": "n{n}", "alt_text": "#{n}"}}' for n in range(100_000)]
    manifest = write(tmp_path / "big.jsonl", "\n".join(lines) + "\n")
    start = time.perf_counter()
    count = sum(1 for r in iter_sources([manifest]) if isinstance(r, Item))
    elapsed = time.perf_counter() - start
    print(f"read 100,000 manifest lines in {elapsed:.2f} s")
    assert count == 100_000
