"""The planner's order of admission, decided from what the entries say (no server).

Unfinished uploads first by deadline; then higher priority; then videos and GIFs before
still images; a post group's items together; then the sources' order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkup.core.items import Item
from bulkup.core.order import Queue, processed


def item(name: str, **fields: object) -> Item:
    return Item(id=name, path=Path("/m") / name, **fields)  # type: ignore[arg-type]


def drain(queue: Queue) -> list[str]:
    return [queue.pop().id for _ in range(len(queue))]


def fill(queue: Queue, *items: Item) -> Queue:
    for entry in items:
        queue.push(entry)
    return queue


@pytest.mark.parametrize(
    ("entry", "is_processed"),
    [
        (item("a.jpg"), False),
        (item("a.mp4"), True),
        (item("a.GIF"), True),
        (item("clip.bin", media_type="video/mp4"), True),
        (item("anim.bin", media_type="image/gif"), True),
        (item("a.mp4", media_category="tweet_image"), False),  # the category says so
        (item("a.jpg", media_category="tweet_gif"), True),
        (item("a.png", media_type="image/png"), False),
    ],
)
def test_what_the_server_processes_is_known_from_the_entry_without_reading_it(
    entry: Item, is_processed: bool
) -> None:
    assert processed(entry) is is_processed


def test_videos_and_gifs_go_before_still_images_otherwise_in_source_order() -> None:
    queue = fill(Queue(), item("1.jpg"), item("2.mp4"), item("3.png"), item("4.gif"))
    assert drain(queue) == ["2.mp4", "4.gif", "1.jpg", "3.png"]


def test_a_higher_priority_outranks_the_videos_first_rule() -> None:
    queue = fill(
        Queue(),
        item("v.mp4"),
        item("low.jpg", priority=-1),
        item("urgent.jpg", priority=10),
        item("plain.jpg"),
    )
    assert drain(queue) == ["urgent.jpg", "v.mp4", "plain.jpg", "low.jpg"]


def test_unfinished_uploads_go_first_nearest_deadline_first() -> None:
    queue = Queue()
    queue.push(item("urgent.jpg", priority=99))
    queue.push(item("later.mp4"), deadline=2_000.0)
    queue.push(item("sooner.jpg"), deadline=1_000.0)
    assert drain(queue) == ["sooner.jpg", "later.mp4", "urgent.jpg"]


def test_a_post_groups_items_go_together_at_its_first_items_place() -> None:
    queue = fill(
        Queue(),
        item("a1.jpg", post="A"),
        item("x.jpg"),
        item("b1.jpg", post="B"),
        item("a2.jpg", post="A"),
        item("y.jpg"),
        item("b2.jpg", post="B"),
    )
    assert drain(queue) == ["a1.jpg", "a2.jpg", "x.jpg", "b1.jpg", "b2.jpg", "y.jpg"]


def test_a_post_group_goes_at_its_highest_priority_when_a_first_reading_knew_it() -> None:
    entries = (item("x.jpg"), item("p1.jpg", post="P"), item("p2.jpg", post="P", priority=5))
    assert drain(fill(Queue(), *entries)) == ["x.jpg", "p1.jpg", "p2.jpg"]
    known = Queue(group_priority={"P": 5})
    assert drain(fill(known, *entries)) == ["p1.jpg", "p2.jpg", "x.jpg"]


def test_the_queue_is_full_at_its_lookahead() -> None:
    queue = fill(Queue(lookahead=2), item("a.jpg"))
    before = queue.full
    queue.push(item("b.jpg"))
    assert (before, queue.full, len(queue)) == (False, True, 2)
    with pytest.raises(ValueError, match="lookahead must be at least 1"):
        Queue(lookahead=0)
