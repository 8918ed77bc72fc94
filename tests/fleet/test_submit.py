"""``bulkup submit``, ``bulkup report --queue`` and ``bulkup status --queue`` as a user
runs them (the command line in this process, on the suite's Redis server)."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from bulkup.cli import main
from bulkup.media import samples
from bulkup.testing.redis_server import RedisServer

pytestmark = pytest.mark.anyio


async def bulkup(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """``bulkup ARGS`` in a thread (it runs its own event loop): code, stdout, stderr."""
    code = await anyio.to_thread.run_sync(main, [str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def manifest(folder: Path) -> Path:
    lines = []
    for n in range(3):
        path = samples.write_image(folder / f"img{n}.png", seed=n)
        lines.append(json.dumps({"id": f"img-{n}", "path": path.name, "alt_text": f"n{n}"}))
    lines += ["{not json", json.dumps({"id": "gone", "path": "nope.png"})]
    (folder / "batch.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "batch.jsonl"


async def test_submit_prints_what_it_did_and_the_report_covers_every_entry(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = manifest(tmp_path)
    queue = ["--queue", redis_server.url, "--job", "photos"]
    code, out, err = await bulkup(capsys, "submit", source, *queue)
    assert code == 0, err
    assert out.strip() == (
        "job photos: 3 submitted: 3 new, 0 unchanged, 0 replaced; "
        "2 source problems recorded in the report"
    )
    code, out, _ = await bulkup(capsys, "submit", source, *queue, "--json")
    assert json.loads(out)["unchanged"] == 5
    code, out, _ = await bulkup(capsys, "report", *queue)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and sorted(line["id"] for line in lines) == [f"{source}:4", "gone"]
    gone = next(line for line in lines if line["id"] == "gone")
    assert gone["error"]["kind"] == "missing_file" and "nope.png" in gone["error"]["message"]
    code, out, _ = await bulkup(capsys, "status", *queue)
    assert code == 0 and "pending: 3" in out and "failed: 2" in out, out
    assert "invalid_entry: 1 item" in out and "missing_file: 1 item" in out
    code, out, _ = await bulkup(capsys, "status", *queue, "--json")
    assert json.loads(out)["pending"] == 3


async def test_a_queue_command_without_a_reachable_queue_or_a_job_says_how_to_fix_it(
    redis_server: RedisServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = manifest(tmp_path)
    monkeypatch.delenv("BULKUP_QUEUE", raising=False)
    code, _, err = await bulkup(capsys, "submit", source, "--job", "j")
    assert code == 2 and "no queue named: give --queue redis://HOST:PORT/DB" in err
    dead = "redis://127.0.0.1:1/0"
    code, _, err = await bulkup(capsys, "submit", source, "--queue", dead, "--job", "j")
    assert code == 2 and f"the queue at {dead} does not answer" in err
    code, _, err = await bulkup(capsys, "report", "--queue", redis_server.url, "--job", "nojob")
    assert code == 2 and "no job 'nojob' on this queue" in err
