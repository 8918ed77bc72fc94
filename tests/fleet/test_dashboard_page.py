"""The dashboard's page in a real headless Chromium (Debian's ``chromium``), over the
feed of a real Redis-protocol server in the state workers leave.

Chromium loads the page from the dashboard's app on a real socket, runs its script
(``--virtual-time-budget`` lets its polls run without waiting in real time) and dumps
the DOM it built. Without ``chromium`` on PATH the tests are skipped, saying how to get
it; ``.ci/run`` installs it, so CI always runs them.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis

from bulkup.fleet.connection import QueueServer
from bulkup.fleet.feed import Feed, client
from bulkup.testing.redis_server import RedisServer
from tests.fleet.fleet_state import HOSTILE, realistic, served_dashboard

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        shutil.which("chromium") is None,
        reason="no chromium on PATH: the dashboard's page is tested in a real headless "
        "browser; install Debian's (apt-get install chromium), as .ci/run does",
    ),
]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class Dom(HTMLParser):
    """A dumped DOM: its elements (tag, attributes) and the text of each element id'd."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.feed(html)
        self.text = " ".join(self.texts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append(data.strip())

    def having(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        named = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [a for t, a in self.elements if t == tag and named.items() <= a.items()]


async def rendered(url: str, profile: Path) -> Dom:
    """The DOM Chromium built from ``url`` after the page's first polls."""
    command = [shutil.which("chromium") or "chromium", *FLAGS, f"--user-data-dir={profile}"]
    command += ["--virtual-time-budget=2500", "--dump-dom", url]
    with anyio.fail_after(60):
        done = await anyio.run_process(command, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return Dom(done.stdout.decode())


@pytest.fixture
async def db(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    connection = client(QueueServer.from_url(redis_server.url, {}))
    yield connection
    await connection.aclose()


async def test_the_page_shows_the_jobs_workers_budgets_and_failures_of_the_feed(
    db: aioredis.Redis, tmp_path: Path
) -> None:
    written = await realistic(db)
    async with served_dashboard(Feed(db)) as dashboard:
        dom = await rendered(dashboard.url + "/", tmp_path / "profile")

    assert [a["data-job"] for a in dom.having("tr", class_="job")] == ["photos-dec", "clips"]
    workers = [str(a["data-worker"]) for a in dom.having("div", class_="worker")]
    assert sorted(workers) == ["upload-a-4101", "upload-b-977"]
    titles = [str(a.get("title")) for a in dom.having("span", class_="path")]
    for upload in written["uploads"]:  # what each worker uploads now: the file, its path
        assert upload["path"].rsplit("/", 1)[1] in dom.texts
        assert any(title.startswith(upload["path"] + " ") for title in titles)
    for reason in ("HTTP 400: bad gif", "unsupported", "media too big"):
        assert reason in dom.texts
    assert "120" in dom.texts and "workers alive" in dom.texts
    assert "171,200 / 180,000" in dom.texts  # the app's 24-hour append cap
    assert "12 / 500" in dom.texts  # an account's one-shot uploads, nearly spent
    assert len(dom.having("rect", class_="items")) == 30  # the throughput chart's bars
    assert dom.having("span", id="status", class_="status live")


async def test_a_file_name_that_is_markup_shows_as_text_and_runs_nothing(
    db: aioredis.Redis, tmp_path: Path
) -> None:
    await realistic(db)
    async with served_dashboard(Feed(db)) as dashboard:
        dom = await rendered(dashboard.url + "/", tmp_path / "profile")

    assert f"/data/{HOSTILE}" in dom.texts  # shown, as the characters it is made of
    assert not dom.having("img", src="x")  # not an element
    assert len(dom.having("script")) == 1  # the page's own only
    assert dom.texts[0] == "bulkup dashboard"  # the title, untouched by the name's script


async def test_the_page_says_when_redis_does_not_answer(
    db: aioredis.Redis, tmp_path: Path, redis_server: RedisServer
) -> None:
    await realistic(db)
    redis_server.stop(kill=True)
    async with served_dashboard(Feed(db)) as dashboard:
        dom = await rendered(dashboard.url + "/", tmp_path / "profile")

    (problem,) = dom.having("div", id="problem")
    assert "hidden" not in problem
    assert any(t.startswith("the queue's Redis does not answer") for t in dom.texts)
    assert dom.having("span", id="status", class_="status down")
    assert dom.having("main", id="main", class_="stale")
