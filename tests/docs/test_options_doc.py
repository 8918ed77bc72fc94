"""docs/options.md documents every option of every command, as the parser has them, and
each upload setting's environment variable and config key as the settings table has them."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bulkup.cli import build_parser
from bulkup.cli.settings import OPTIONS

OPTIONS_DOC = Path(__file__).parents[2] / "docs" / "options.md"
#: Options issue [4/6]'s other branches add: documented before the parser has them.
PENDING: set[tuple[str, str]] = set()
HEADING = re.compile(r"^## `bulkup (.+)`$")


def documented() -> dict[str, list[list[str]]]:
    """Per command, the cells of each row of its table."""
    tables: dict[str, list[list[str]]] = {}
    command = None
    for line in OPTIONS_DOC.read_text().splitlines():
        heading = HEADING.match(line)
        if heading:
            command = heading.group(1)
            tables[command] = []
        elif command and line.startswith("| `"):
            cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
            tables[command].append([cell.strip() for cell in cells])
    return tables


def flags(cell: str) -> set[str]:
    return set(re.findall(r"`(--[a-z][a-z0-9-]*)", cell))


def commands() -> dict[str, set[str]]:
    """Each command's options, as ``bulkup COMMAND --help`` lists them."""
    found: dict[str, set[str]] = {}

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found[prefix] = {
                flag
                for action in parser._actions
                for flag in action.option_strings
                if flag.startswith("--") and flag != "--help"
            }
        for action in subs:
            for name, sub in action.choices.items():
                walk(f"{prefix} {name}".strip(), sub)

    walk("", build_parser())
    return found


def test_every_command_and_option_of_the_parser_is_in_options_md_and_no_other() -> None:
    real, tables = commands(), documented()
    assert set(tables) == set(real), "docs/options.md sections differ from the commands"
    for command, options in real.items():
        shown = set().union(*(flags(row[0]) for row in tables[command]))
        pending = {flag for cmd, flag in PENDING if cmd == command}
        if command == "config show":  # every upload option except --dry-run and --json
            shown |= real["upload"] - {"--dry-run", "--json"}
        assert options - shown == set(), f"bulkup {command}: undocumented options"
        assert shown - options - pending == set(), f"bulkup {command}: options it lacks"


def test_each_upload_setting_names_its_variable_and_config_key() -> None:
    rows = {frozenset(flags(row[0])): row for row in documented()["upload"]}
    for option in OPTIONS:
        row = next(r for f, r in rows.items() if option.flag in f or f"--no-{option.key}" in f)
        assert row[1] == f"`{option.env}`", f"{option.flag}: {row[1]}"
        assert row[2] == f"`[{option.section}] {option.key}`", f"{option.flag}: {row[2]}"
