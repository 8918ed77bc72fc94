"""The plan's arithmetic (sans-IO): requests per item, windows from the published limits,
billed requests."""

from __future__ import annotations

from bulkup.core.steps import Plan
from bulkup.run.plan import PlannedItem, Totals, budget, item_requests, upload_requests

MiB = 1024 * 1024


def test_a_chunked_video_makes_one_append_per_segment_and_at_least_one_status_poll() -> None:
    video = Plan(
        size=10 * MiB + 1, media_type="video/mp4", media_category="tweet_video", chunk_size=4 * MiB
    )
    assert upload_requests(video) == {"initialize": 1, "append": 3, "finalize": 1, "status": 1}


def test_a_one_shot_image_makes_one_request_and_is_not_polled() -> None:
    image = Plan(size=100, media_type="image/png", media_category="tweet_image", strategy="simple")
    assert upload_requests(image) == {"upload": 1}


def test_metadata_and_each_subtitle_file_add_their_requests() -> None:
    video = Plan(size=MiB, media_type="video/mp4", media_category="tweet_video")
    srt = Plan(size=200, media_type="text/srt", media_category="subtitles")
    counts = item_requests(video, metadata=True, subtitles=[srt, srt])
    assert counts == {
        "initialize": 3,
        "append": 3,
        "finalize": 3,
        "status": 1,
        "metadata": 1,
        "subtitles_create": 2,
    }


def test_the_fewest_windows_are_set_by_the_busiest_endpoint() -> None:
    assert budget({"append": 1875, "upload": 500}, "v2").windows == 1
    two = budget({"append": 1876, "metadata": 10}, "v2")
    assert (two.windows, two.seconds, two.busiest) == (2, 900, "append")
    assert budget({"subtitles_create": 301}, "v2").windows == 4
    assert budget({}, "v2").describe("v2") == "no requests"
    none = budget({"append": 10**6}, "v1.1")
    assert (none.windows, none.seconds) == (None, None)
    assert "publishes no rate limits" in none.describe("v1.1")


def test_totals_count_billed_metadata_requests_and_only_planned_bytes() -> None:
    totals = Totals("v2")
    totals.add(
        PlannedItem(
            id="a", path="a", status="planned", size=10, requests={"upload": 1, "metadata": 1}
        )
    )
    totals.add(PlannedItem(id="b", path="b", status="failed", size=99))
    total = totals.as_json()["total"]
    assert (total["planned"], total["failed"], total["size"]) == (1, 1, 10)
    assert (total["billed_requests"], total["billed_usd"]) == (1, 0.005)
    assert total["requests"] == {"upload": 1, "metadata": 1}
