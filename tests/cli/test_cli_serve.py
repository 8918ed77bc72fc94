"""``bulkup serve`` as a user runs it: a real process, a real port, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkup", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:  # ends at EOF if the process dies
        lines.append(line.rstrip("\n"))
        if "stop: Ctrl-C" in line:
            break
    return proc, lines


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    proc, lines = _start()
    yield proc, lines
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=20)  # also closes the pipes


def _url(lines: list[str]) -> str:
    first = lines[0]
    return first.split("listening on ")[1].split(" ")[0]


def test_serve_prints_url_and_demo_credentials_then_answers(
    served: tuple[subprocess.Popen[str], list[str]],
) -> None:
    _, lines = served
    text = "\n".join(lines)
    assert "X_API_KEY=bulkup-demo-consumer-key" in text
    assert "X_BEARER_TOKEN=" in text
    with urllib.request.urlopen(_url(lines) + "/_emulator/health", timeout=10) as resp:
        assert json.load(resp) == {"ok": True}


def test_serve_stops_cleanly_on_ctrl_c(served: tuple[subprocess.Popen[str], list[str]]) -> None:
    proc, _ = served
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "bulkup emulator stopped" in out
    assert "Traceback" not in err


def test_serve_rejects_an_invalid_profile_naming_the_key(tmp_path: Path) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text("[network]\nlatency_ms = -5\n")
    result = subprocess.run(
        [sys.executable, "-m", "bulkup", "serve", "--port", "0", "--profile", str(profile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "bad.toml" in result.stderr and "latency_ms" in result.stderr


@pytest.mark.parametrize("profile", sorted(p.name for p in CONFIGS.glob("emulator-*.toml")))
def test_every_shipped_profile_starts(profile: str) -> None:
    proc, lines = _start("--profile", str(CONFIGS / profile))
    try:
        assert lines and "listening on" in lines[0], lines
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_serve_with_self_signed_tls_writes_a_ca_clients_can_trust(tmp_path: Path) -> None:
    import ssl

    ca = tmp_path / "ca.pem"
    proc, lines = _start("--tls-self-signed", "--ca-out", str(ca))
    try:
        url = _url(lines)
        assert url.startswith("https://")
        context = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(url + "/_emulator/health", context=context, timeout=10) as r:
            assert r.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
