"""Finding 5 of issue [3/6]: one file named under another spelling is not uploaded again.

One checkpoint, the same folder named ``imgs``, then ``/abs/path/imgs``, then ``.`` from
inside it: the item ids differ each time, the files do not. Within one checkpoint a
file already uploaded (same size, modification time and inode, same parameters) is
reported from its earlier upload, with a warning; nothing is sent again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.cli.test_cli_upload import bulkup, env_for, requests, upload_args

pytestmark = pytest.mark.anyio


async def test_three_spellings_of_one_folder_upload_its_files_once(
    emulator: Emulator, tmp_path: Path
) -> None:
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(3):
        samples.write_image(imgs / f"p{i}.png", fmt="png", width=16, height=16, seed=i)
    checkpoint = tmp_path / "run.ckpt"
    media: dict[str, set[str]] = {}
    for source, cwd in (("imgs", tmp_path), (str(imgs), tmp_path), (".", imgs)):
        run = await bulkup(
            *upload_args(emulator, source),
            "--checkpoint",
            checkpoint,
            env=env_for(emulator),
            cwd=cwd,
        )
        assert run.code == 0, run.err
        lines = run.lines()
        assert len(lines) == 3
        for line in lines:
            media.setdefault(Path(line["path"]).name, set()).add(line["media_id_string"])
        if source != "imgs":
            assert all(line["resumed"] for line in lines)
            assert all("uploaded as" in " ".join(line["warnings"]) for line in lines)

    assert all(len(ids) == 1 for ids in media.values()), media  # one media id per file
    assert sum(requests(emulator)["upload"].values()) == 3  # each file sent once
