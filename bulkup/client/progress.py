"""Progress of a run: what the uploader reports, and a rich display of it.

The uploader calls an :class:`Observer` at each step of each item; the default
observer does nothing. :class:`RichProgress` shows, on a terminal, the overall bytes
and files with rate and ETA, a line per active file with its state (uploading,
finalizing, processing with percent), and the counts of failed items and retries.

Bytes count only what the server acknowledged, once per segment (a segment sent
again after a failure is not counted twice), so the bar never passes 100%.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, Protocol

from bulkup.client.binding import Binding, Budgets, binding, binding_text
from bulkup.core.items import Result
from bulkup.core.units import binary_units

if TYPE_CHECKING:
    from rich.progress import ProgressColumn, Task, TaskID


class Observer(Protocol):
    """Receives the steps of a run; every method must return at once."""

    def item_started(self, item_id: str, size: int, done_bytes: int) -> None: ...

    def item_state(self, item_id: str, state: str, percent: int | None = None) -> None: ...

    def bytes_acked(self, item_id: str, count: int) -> None: ...

    def retried(self, item_id: str, reason: str) -> None:
        """A request of ``item_id`` is tried again; ``reason`` is a few words for a
        progress line ("HTTP 503 on append"). An observer whose ``retried`` takes only
        ``item_id`` (written before reasons existed) is still called, without it."""

    def waiting(self, endpoint: str, until: float) -> None:
        """Requests to ``endpoint`` wait until ``until`` (Unix time) for a limit to reset."""

    def item_finished(self, result: Result) -> None: ...


def answer_listener(observer: object) -> Callable[[str, int], None] | None:
    """``observer.answered(endpoint, status)``, called for each request the server
    answered (any status; the metrics count requests and 429s by endpoint), if the
    observer has it: it is optional, not part of :class:`Observer`."""
    listener: Callable[[str, int], None] | None = getattr(observer, "answered", None)
    return listener


def wait_listener(observer: Observer) -> Callable[[str, float], None]:
    """``observer.waiting``, or a no-op for an observer written before it existed."""
    listener: Callable[[str, float], None] | None = getattr(observer, "waiting", None)
    return listener if listener is not None else (lambda endpoint, until: None)


class NullObserver:
    """Observes nothing."""

    def item_started(self, item_id: str, size: int, done_bytes: int) -> None:
        pass

    def item_state(self, item_id: str, state: str, percent: int | None = None) -> None:
        pass

    def bytes_acked(self, item_id: str, count: int) -> None:
        pass

    def retried(self, item_id: str, reason: str) -> None:
        pass

    def waiting(self, endpoint: str, until: float) -> None:
        pass

    def item_finished(self, result: Result) -> None:
        pass


class RichProgress:
    """A live display on a terminal (use as a context manager around the run)."""

    def __init__(self, stream: IO[str], *, total_files: int | None = None) -> None:
        # rich is imported for a display only: a run without one (not a terminal,
        # --no-progress) does not pay the 14 ms its import took.
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console(file=stream)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            _bytes_column(),
            _speed_column(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
            # Redrawn from the event loop's thread only (see _refresh): rich's own
            # refresh thread, drawing while a line is printed above the bars, can
            # leave a stale bar on the screen and erase the line.
            auto_refresh=False,
        )
        self._drawn = 0.0
        self._echo: list[Any] | None = None
        self.overall = self.progress.add_task("all files", total=0)
        self.files: dict[str, TaskID] = {}
        #: id -> (size, acknowledged, acknowledged by an earlier run)
        self.sizes: dict[str, tuple[int, int, int]] = {}
        self.total_files = total_files
        self.finished = self.failed = self.skipped = self.retries = 0
        #: Endpoint → when its rate-limit wait ends, shown until then.
        self.waits: dict[str, float] = {}
        #: The budget that binds now, if one is worth a word (see :meth:`show_budgets`).
        self._binding: Callable[[float], Binding | None] | None = None

    def __enter__(self) -> RichProgress:
        self._echo = _quiet_ctrl_c()
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._describe()
            self._refresh(now=True)
            self.progress.stop()
        finally:
            _restore_echo(self._echo)

    def set_total(self, total_files: int) -> None:
        """The sources hold this many items (once they were counted; from any thread:
        shown at the next redraw)."""
        self.total_files = total_files

    def _refresh(self, *, now: bool = False) -> None:
        """Redraw, at most 10 times a second unless ``now``."""
        moment = time.monotonic()
        if now or moment - self._drawn >= 0.1:
            self._drawn = moment
            self.progress.refresh()

    def _describe(self) -> None:
        of = f"/{self.total_files}" if self.total_files else ""
        text = f"done {self.finished - self.failed - self.skipped}{of}"
        if self.failed:
            text += f" · failed {self.failed}"
        if self.skipped:
            text += f" · skipped {self.skipped}"
        if self.retries:
            text += f" · retried {self.retries}"
        if self.retries and self.last_retry:
            last = self.last_retry  # shortened: the line has the bars to show too
            text += f" · last: {last if len(last) <= 40 else last[:39] + '…'}"
        now = time.time()
        self.waits = {e: until for e, until in self.waits.items() if until > now}
        found = self._binding(now) if self._binding is not None else None
        if found is not None:
            text += f" · {binding_text(found, now)}"
        for endpoint, until in sorted(self.waits.items()):
            if found is not None and found.waiting and endpoint in (found.endpoint, *found.also):
                continue  # said with its budget
            clock = time.strftime("%H:%M:%S", time.localtime(until))
            text += f" · {endpoint} rate limit: waiting until {clock}"
        self.progress.update(self.overall, description=text)
        self._refresh()

    @contextlib.contextmanager
    def show_budgets(self, pacer: Budgets, every: float = 1.0) -> Iterator[None]:
        """While in it, the overall line names the budget that binds and when it resets
        (:func:`~bulkup.client.binding.binding`), redrawn every ``every`` seconds so
        the time counts down while nothing else happens (asyncio's loop calls it back:
        no task of its own)."""
        self._binding = lambda now: binding(pacer, now)
        handle: list[asyncio.TimerHandle] = []

        def tick() -> None:
            self._describe()
            handle[:] = [asyncio.get_running_loop().call_later(every, tick)]

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on asyncio's loop: redrawn at each event only
            loop = None
        if loop is not None:
            handle.append(loop.call_later(every, tick))
        try:
            yield
        finally:
            for pending in handle:
                pending.cancel()
            self._binding = None

    def item_started(self, item_id: str, size: int, done_bytes: int) -> None:
        """The overall bar and rate count this run's bytes: an earlier run's are left out."""
        self.sizes[item_id] = (size, done_bytes, done_bytes)
        overall = self.progress.tasks[self.overall]
        self.progress.update(self.overall, total=(overall.total or 0) + size - done_bytes)
        self.files[item_id] = self.progress.add_task(
            f"  {item_id[:40]} uploading", total=size, completed=done_bytes
        )

    def item_state(self, item_id: str, state: str, percent: int | None = None) -> None:
        task = self.files.get(item_id)
        if task is not None:
            suffix = f" {percent}%" if percent is not None else ""
            self.progress.update(task, description=f"  {item_id[:40]} {state}{suffix}")

    def bytes_acked(self, item_id: str, count: int) -> None:
        size, done, earlier = self.sizes.get(item_id, (0, 0, 0))
        count = max(0, min(count, size - done))  # never past 100%
        self.sizes[item_id] = (size, done + count, earlier)
        self.progress.update(self.overall, advance=count)
        task = self.files.get(item_id)
        if task is not None:
            self.progress.update(task, advance=count)
        self._refresh()

    #: Why the last retry happened, shown (shortened) on the overall line.
    last_retry = ""

    def retried(self, item_id: str, reason: str = "") -> None:
        self.retries += 1
        self.last_retry = reason or self.last_retry
        self._describe()

    def waiting(self, endpoint: str, until: float) -> None:
        self.waits[endpoint] = max(until, self.waits.get(endpoint, 0.0))
        self._describe()

    def item_finished(self, result: Result) -> None:
        self.finished += 1
        self.failed += result.status == "failed"
        self.skipped += result.status == "skipped"
        task = self.files.pop(result.id, None)
        if task is not None:
            self.progress.remove_task(task)
        size, done, earlier = self.sizes.pop(result.id, (0, 0, 0))
        if result.ok and size > done:  # simple uploads land whole
            self.progress.update(self.overall, advance=size - done)
        elif not result.ok and size:
            overall = self.progress.tasks[self.overall]
            left = (overall.total or 0) - (size - earlier)
            self.progress.update(self.overall, total=left, advance=-(done - earlier))
        self._describe()

    def print(self, text: str) -> None:
        """A line above the live display."""
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        self._refresh(now=True)


def _quiet_ctrl_c() -> list[Any] | None:
    """Stop the terminal echoing ``^C`` while the bars are drawn (at the end of a full
    line it wraps, and the next redraw leaves a stale bar above) and flushing the output
    at Ctrl-C (the bars lose their place: lines above them are erased). The settings before,
    to restore (None: standard input is not a terminal)."""
    try:
        import termios
    except ImportError:  # not a POSIX system
        return None
    try:
        fd = sys.stdin.fileno()
        before = termios.tcgetattr(fd)
        quiet = termios.tcgetattr(fd)
        # no ^C echoed, and no output the terminal has not drawn yet thrown away at
        # the signal (the next redraw would move the cursor over lines still there)
        quiet[3] = (quiet[3] & ~termios.ECHOCTL) | termios.NOFLSH
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
        _saved[:] = [before]
        return before
    except (termios.error, AttributeError, ValueError, OSError):  # not a terminal
        return None


#: The terminal's settings while a display changed them (see restore_terminal).
_saved: list[list[Any]] = []


def restore_terminal() -> None:
    """Give the terminal back its settings, before a process exits at once (a second
    Ctrl-C) while a display is up."""
    if _saved:
        _restore_echo(_saved.pop())


def _restore_echo(before: list[Any] | None) -> None:
    _saved.clear()
    if before is None:
        return
    import termios

    with contextlib.suppress(termios.error, AttributeError, ValueError, OSError):
        termios.tcsetattr(sys.stdin.fileno(), termios.TCSANOW, before)


def _bytes_column() -> ProgressColumn:
    """``1.2/12.0 MiB``, and nothing while no total is known (not ``0/0 bytes``)."""
    from rich.progress import DownloadColumn
    from rich.text import Text

    class Bytes(DownloadColumn):
        def render(self, task: Task) -> Text:
            return super().render(task) if task.total else Text("")

    return Bytes(binary_units=True)


def _speed_column() -> ProgressColumn:
    """The rate in the bar's units (MiB/s beside MiB, not MB/s)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Speed(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None or not task.total:
                return Text("")
            return Text(f"{binary_units(speed)}/s", style="progress.data.speed")

    return Speed()


class ByteTally(NullObserver):
    """Counts the bytes this run sent that the server kept: acknowledged segments,
    and the whole of a one-shot upload; an earlier run's bytes are not counted."""

    def __init__(self) -> None:
        self.sent = 0
        self._sizes: dict[str, tuple[int, int]] = {}  # id -> (size, counted)

    def item_started(self, item_id: str, size: int, done_bytes: int) -> None:
        self._sizes[item_id] = (size, done_bytes)

    def bytes_acked(self, item_id: str, count: int) -> None:
        size, done = self._sizes.get(item_id, (0, 0))
        count = max(0, min(count, size - done))
        self._sizes[item_id] = (size, done + count)
        self.sent += count

    def item_finished(self, result: Result) -> None:
        size, done = self._sizes.pop(result.id, (0, 0))
        if result.ok and size > done:  # a one-shot upload lands whole
            self.sent += size - done

    @property
    def in_flight(self) -> int:
        """Items started and not finished."""
        return len(self._sizes)


class Observers:
    """Several observers as one: each hears every step, in order."""

    def __init__(self, *observers: object) -> None:
        self._all = [o for o in observers if o is not None]

    def _each(self, name: str, *args: object) -> None:
        for observer in self._all:
            method = getattr(observer, name, None)
            if method is not None:
                method(*args)

    def item_started(self, item_id: str, size: int, done_bytes: int) -> None:
        self._each("item_started", item_id, size, done_bytes)

    def item_state(self, item_id: str, state: str, percent: int | None = None) -> None:
        self._each("item_state", item_id, state, percent)

    def bytes_acked(self, item_id: str, count: int) -> None:
        self._each("bytes_acked", item_id, count)

    def retried(self, item_id: str, reason: str = "") -> None:
        self._each("retried", item_id, reason)

    def waiting(self, endpoint: str, until: float) -> None:
        self._each("waiting", endpoint, until)

    def answered(self, endpoint: str, status: int) -> None:
        self._each("answered", endpoint, status)

    def item_finished(self, result: Result) -> None:
        self._each("item_finished", result)
