"""The package's folders show its layers, and imports run one way (STYLE 6a).

::

    testing                           test helpers
    cli                               the commands
    fleet, emulator                   the work queue on Redis, the local API
      └─► client                      performs what the core decides
            └─► run, sources, media, auth   the run's files, inputs, media, credentials
                  └─► core            sans-IO decisions; never awaits
                        (errors, logs, privatefiles, redact: shared by every layer)

A module may import its own layer or a lower one, never a higher one.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "bulkup"
RANK = {
    "errors": 0,
    "logs": 0,
    "privatefiles": 0,
    "redact": 0,
    "core": 0,
    "run": 1,
    "sources": 1,
    "media": 1,
    "auth": 1,
    "client": 2,
    "fleet": 3,
    "emulator": 3,
    "cli": 4,
    "testing": 5,
    "__init__": 5,  # the public API re-exports every layer
    "__main__": 5,
}


def layer(module: str) -> str:
    """``bulkup.client.driver`` → ``client``; ``bulkup`` → ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "bulkup":
                found += [(node.lineno, f"bulkup.{a.name}") for a in node.names]
            elif node.module.startswith("bulkup."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("bulkup.")]
    return found


def module_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = [p for p in relative.parts if p != "__init__"]
    return ".".join(parts)


def test_no_layer_imports_a_higher_one() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = layer(module_of(path)) if path.parent != PACKAGE else path.stem
        for line, target in imports(path):
            there = layer(target)
            if there == "__version__":
                continue
            if RANK[there] > RANK[here]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_top_of_the_package_holds_only_the_layers_and_shared_modules() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules == {"__init__", "__main__", "errors", "logs", "privatefiles", "redact"}
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == {
        "core",
        "client",
        "run",
        "sources",
        "media",
        "auth",
        "cli",
        "fleet",
        "emulator",
        "testing",
    }


def test_no_function_in_core_client_or_fleet_is_longer_than_40_lines() -> None:
    long = []
    for folder in ("core", "client", "fleet"):
        for path in sorted((PACKAGE / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > 40:
                        long.append(f"{path.name}:{node.lineno} {node.name} ({length} lines)")
    assert not long, long
