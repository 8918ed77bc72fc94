"""``bulkup serve`` as a user runs it: a real process, a real port, Ctrl-C.

Standard output holds only ``export`` lines (``eval "$(bulkup serve --print-env)"``);
the banner and one line per request go to standard error.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bulkup.emulator import DEMO_USER
from bulkup.media import samples

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
BASE_ENV = {"PATH": "/usr/bin:/bin"}
#: ``12:03:04 POST /2/media/upload/initialize 200 3 ms`` (maybe `` fault=error_503``).
REQUEST_LINE = re.compile(r"^\d\d:\d\d:\d\d [A-Z]+ /\S* (\d{3}|dropped) \d+ ms( fault=\S+)?$")
EXPORT_LINE = re.compile(r"^export [A-Z_]+=\S+$")


@dataclass
class Served:
    proc: subprocess.Popen[str]
    banner: list[str]
    exports: list[str]

    @property
    def url(self) -> str:
        return self.banner[0].split("listening on ")[1].split(" ")[0]

    def stop(self) -> tuple[str, str]:
        """Ctrl-C; the rest of standard output and standard error."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.communicate(timeout=20)


def _serve(*args: str, env: dict[str, str] | None = None) -> Served:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkup", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or BASE_ENV,
    )
    assert proc.stdout is not None and proc.stderr is not None
    banner: list[str] = []
    for line in proc.stderr:  # ends at EOF if the process dies
        banner.append(line.rstrip("\n"))
        if "stop: Ctrl-C" in line:
            break
    exports: list[str] = []
    if proc.poll() is None:  # written before the banner's end: no waiting
        for line in proc.stdout:
            exports.append(line.rstrip("\n"))
            if line.startswith("export BULKUP_ENDPOINT="):
                break
    return Served(proc, banner, exports)


def _start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """The process and its banner (standard error up to "stop: Ctrl-C")."""
    served = _serve(*args)
    return served.proc, served.banner


@pytest.fixture
def served() -> Iterator[Served]:
    server = _serve()
    yield server
    if server.proc.poll() is None:
        server.proc.kill()
    server.proc.communicate(timeout=20)  # also closes the pipes


def exported(lines: list[str]) -> dict[str, str]:
    """What a shell holds after ``eval``-ing ``lines`` (bash itself reads them)."""
    script = "\n".join(lines) + '\nenv -0 | grep -z -E "^(X_|BULKUP_)"'
    out = subprocess.run(
        ["bash", "-c", script], env=BASE_ENV, capture_output=True, check=True
    ).stdout
    pairs = (item.split(b"=", 1) for item in out.split(b"\0") if item)
    return {name.decode(): value.decode() for name, value in pairs}


def upload_in_shell(
    exports: list[str], tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``eval "$EXPORTS"; bulkup upload photo.jpg ...`` in bash, as a user pastes it."""
    samples.write_image(tmp_path / "photo.jpg", fmt="jpeg")
    script = 'eval "$EXPORTS"; "$PYTHON" -m bulkup upload photo.jpg --report report.jsonl "$@"'
    env = {**BASE_ENV, "HOME": str(tmp_path), "EXPORTS": "\n".join(exports)}
    return subprocess.run(
        ["bash", "-c", script, "bash", *args],
        env={**env, "PYTHON": sys.executable},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def request_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if REQUEST_LINE.match(line)]


def test_serve_prints_export_lines_on_stdout_and_its_banner_on_stderr(served: Served) -> None:
    assert served.banner[0].startswith("bulkup emulator listening on http://127.0.0.1:")
    assert all(EXPORT_LINE.match(line) for line in served.exports), served.exports
    assert exported(served.exports) == {
        "X_API_KEY": DEMO_USER.consumer_key,
        "X_API_SECRET": DEMO_USER.consumer_secret,
        "X_ACCESS_TOKEN": DEMO_USER.access_token,
        "X_ACCESS_TOKEN_SECRET": DEMO_USER.access_token_secret,
        "X_BEARER_TOKEN": DEMO_USER.bearer_tokens[0],
        "BULKUP_ENDPOINT": served.url,
    }
    assert "bulkup upload photos/" in "\n".join(served.banner)
    with urllib.request.urlopen(served.url + "/_emulator/health", timeout=10) as resp:
        assert json.load(resp) == {"ok": True}


def test_an_upload_in_a_shell_that_evals_the_exports_succeeds_and_each_request_is_logged(
    served: Served, tmp_path: Path
) -> None:
    result = upload_in_shell(served.exports, tmp_path, "--strategy", "chunked")
    _, err = served.stop()

    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.jsonl").read_text().splitlines()[0])
    assert report["status"] == "succeeded"
    logged = request_lines(err)
    assert logged[0].split(" ")[1:4] == ["POST", "/2/media/upload/initialize", "200"], logged
    media_id = report["media_id_string"]
    assert f" POST /2/media/upload/{media_id}/append 200 " in "\n".join(logged)
    assert f" POST /2/media/upload/{media_id}/finalize 200 " in "\n".join(logged)
    secrets = [value for name, value in exported(served.exports).items() if name.startswith("X_")]
    assert not [s for s in secrets if s in err], "a credential in the log"


def test_a_fault_injected_into_a_request_is_named_on_its_log_line(
    served: Served, tmp_path: Path
) -> None:
    fault = json.dumps({"kind": "error_503", "endpoint": "initialize"}).encode()
    schedule = urllib.request.Request(served.url + "/_emulator/faults", data=fault, method="POST")
    urllib.request.urlopen(schedule, timeout=10).close()

    result = upload_in_shell(served.exports, tmp_path, "--strategy", "chunked")
    _, err = served.stop()

    assert result.returncode == 0, result.stderr
    logged = request_lines(err)
    initialize = [line for line in logged if "/initialize" in line]
    assert " POST /2/media/upload/initialize 503 " in initialize[0], initialize
    assert initialize[0].endswith(" ms fault=error_503"), initialize
    assert " 200 " in initialize[1] and "fault=" not in initialize[1], initialize


def test_quiet_logs_no_request_lines(tmp_path: Path) -> None:
    server = _serve("--quiet")
    result = upload_in_shell(server.exports, tmp_path)
    _, err = server.stop()

    assert result.returncode == 0, result.stderr
    assert request_lines(err) == [], err
    assert "bulkup emulator stopped" in err


def test_print_env_prints_the_exports_of_the_server_these_options_start(tmp_path: Path) -> None:
    profile = tmp_path / "odd.toml"
    profile.write_text(
        '[[users]]\nid = "42"\nconsumer_key = "key with \'quotes\' and $HOME"\n'
        'consumer_secret = "s e c r e t;"\naccess_token = "42-tok"\n'
        'access_token_secret = "a`b`c"\n'
    )
    options = ("--profile", str(profile))
    printed = subprocess.run(
        [sys.executable, "-m", "bulkup", "serve", "--print-env", "--port", "8765", *options],
        env=BASE_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert lines and all(line.startswith("export ") for line in lines), printed.stdout
    env = exported(lines)
    assert env["X_API_KEY"] == "key with 'quotes' and $HOME"
    assert env["BULKUP_ENDPOINT"] == "http://127.0.0.1:8765"

    server = _serve(*options)  # the same options but the port
    try:
        assert exported(server.exports) == {**env, "BULKUP_ENDPOINT": server.url}
        assert upload_in_shell([*lines[:-1], server.exports[-1]], tmp_path).returncode == 0
    finally:
        server.stop()


def test_print_env_refuses_port_0_and_names_the_fix() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bulkup", "serve", "--print-env", "--port", "0"],
        env=BASE_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert "--port N" in result.stderr


def test_credentials_from_the_environment_are_accepted_but_not_printed_again() -> None:
    env = {**BASE_ENV, "X_BEARER_TOKEN": "my-own-token-from-the-shell"}
    server = _serve(env=env)
    try:
        assert [line.split("=")[0] for line in server.exports] == ["export BULKUP_ENDPOINT"]
        assert "X_* variables of this shell" in "\n".join(server.banner)
    finally:
        _, err = server.stop()
    assert "my-own-token-from-the-shell" not in err


def test_serve_stops_cleanly_on_ctrl_c(served: Served) -> None:
    out, err = served.stop()
    assert served.proc.returncode == 0, err
    assert out == ""
    assert "bulkup emulator stopped" in err
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
    server = _serve("--profile", str(CONFIGS / profile))
    server.stop()
    assert server.banner and "listening on" in server.banner[0], server.banner
    assert server.exports[-1] == f"export BULKUP_ENDPOINT={shlex.quote(server.url)}"
    assert server.proc.returncode == 0


def test_serve_with_self_signed_tls_writes_a_ca_clients_can_trust(tmp_path: Path) -> None:
    import ssl

    ca = tmp_path / "ca.pem"
    server = _serve("--tls-self-signed", "--ca-out", str(ca))
    try:
        assert server.url.startswith("https://")
        assert exported(server.exports)["BULKUP_CA_BUNDLE"] == str(ca.resolve())
        context = ssl.create_default_context(cafile=str(ca))
        health = server.url + "/_emulator/health"
        with urllib.request.urlopen(health, context=context, timeout=10) as r:
            assert r.status == 200
    finally:
        server.stop()
