"""What the transport and the planner need of a rate-limit pacer, and what both kinds share.

Two kinds implement :class:`RatePacer`: :class:`~bulkup.client.pacing.Pacer` keeps the
budgets in this process (the default), :class:`~bulkup.client.shared_budget.SharedPacer`
keeps them on a Redis (or Valkey) server, shared by every process that names it
(``--budget URL``). Either one:

- ``async with pacer.slot(endpoint) as held``: waits until the endpoint's budget has room
  for one request (or raises :class:`~bulkup.errors.RateCapped` for a wait past
  ``max_wait``, or the error given to :meth:`~RatePacer.stop`), and holds that request's
  place while it is in flight;
- ``pacer.observe(held, headers, status)``: the answer's headers correct the budget;
- ``pacer.one_shot_or_chunked()``: the planner's choice for ``--strategy auto``'s stills;
- ``pacer.budget(endpoint)``: the :class:`~bulkup.client.pacing.Budget` the progress line
  reads (:mod:`bulkup.client.binding`); ``pacer.waited_secs``: for the run's stats;
- ``pacer.stop(error)``: nothing more goes.

:class:`PacerBase` holds what both kinds share: the one-shot-or-chunked choice (from
:meth:`~PacerBase.free` and :meth:`~PacerBase.room`, which each kind answers), the stop,
the waits' announcements and caps, and the event that wakes waiting requests.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from bulkup.core.retry import DEFAULT_MAX_WAIT, cap
from bulkup.errors import UploadError

if TYPE_CHECKING:
    from bulkup.client.pacing import Budget

__all__ = ["RESET_SLACK_SECS", "PacerBase", "RatePacer"]

#: Waiting past the announced reset by this much absorbs clock skew and rounding.
RESET_SLACK_SECS = 0.25


class RatePacer(Protocol):
    """The budgets a run paces its requests by (see the module's docstring)."""

    waited_secs: float

    def slot(self, endpoint: str) -> contextlib.AbstractAsyncContextManager[Any]: ...

    def observe(self, held: Any, headers: Mapping[str, str], status: int = 200) -> None: ...

    def one_shot_or_chunked(self) -> bool: ...

    def unpromise(self) -> None: ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, kept: Mapping[str, Any]) -> None: ...

    def budget(self, endpoint: str) -> Budget: ...

    def stop(self, error: UploadError) -> None: ...


class PacerBase:
    """What the in-memory and the shared pacers share."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
        max_wait: float = DEFAULT_MAX_WAIT,
        on_wait: Callable[[str, float], None] | None = None,
    ) -> None:
        self.enabled = enabled
        self._clock = clock
        self.max_wait = max_wait
        self._on_wait = on_wait
        self._changed = anyio.Event()
        self._stopped: UploadError | None = None
        self.waited_secs = 0.0
        #: Still images planned one-shot whose request has not started yet.
        self._promised = 0
        #: The one-shot budget ran out at least once in this run.
        self._bound = False

    def free(self, endpoint: str) -> bool:
        """Whether a request to ``endpoint`` could go now, without waiting for a limit."""
        raise NotImplementedError

    def room(self, endpoint: str) -> float:
        """Requests that could still start in ``endpoint``'s windows (inf: no limit known)."""
        raise NotImplementedError

    def one_shot_or_chunked(self) -> bool:
        """For ``--strategy auto``'s still images: True to send one-shot. One-shot while
        its budget has room (one request an image), chunked beside it while only
        initialize, append and finalize have room (X's budgets of 500 and 1,875 per 15
        minutes then serve 2,375 images, not 500); when neither has, the one that can go
        sooner. An image
        sent one-shot holds its request's place from this choice until it starts, so
        that images planned together do not all count on the same last request."""
        free = self.free("upload")  # first: a window whose reset has passed turns over
        room = self.room("upload") - self._promised
        chunked = max(self.wait_for(e) for e in ("initialize", "append", "finalize"))
        if free and room > 0:
            # Both have room, in a run the budgets bind: spend first the one whose window
            # ends sooner (room left in an ending window is lost; a fresh one waits).
            sooner = self.renews_in("initialize") < self.renews_in("upload")
            if self._bound and chunked == 0.0 and sooner:
                return False
            self._promised += 1
            return True
        self._bound = True  # the one-shot budget ran out once: budgets bind this run
        if chunked == 0.0:
            return False
        # Neither has room now: the path that can go sooner (an image waiting for the
        # one-shot reset while the chunked budgets renew would hold its slot for nothing).
        one_shot = self.wait_for("upload") if not free else self.renews_in("upload")
        if one_shot <= chunked:
            self._promised += 1
            return True
        return False

    def wait_for(self, endpoint: str) -> float:
        """Seconds until a request to ``endpoint`` could go (0: now, or as soon as the
        answers in flight say; inf: not known)."""
        return 0.0 if self.free(endpoint) else math.inf

    def renews_in(self, endpoint: str) -> float:
        """Seconds until ``endpoint``'s window renews (inf: not known)."""
        return math.inf

    def unpromise(self) -> None:
        """An image planned one-shot will not send after all (its result was in the
        checkpoint, its file changed, the run stopped): its place is given back."""
        self._promised = max(0, self._promised - 1)

    def _kept(self, endpoint: str) -> None:
        """A request to ``endpoint`` starts: a one-shot promise made is kept."""
        if endpoint == "upload" and self._promised:
            self._promised -= 1

    def stop(self, error: UploadError) -> None:
        """Nothing more goes: every request waiting for its budget, and every later
        one, fails with ``error``."""
        self._stopped = error
        self._notify()

    def _check_stopped(self) -> None:
        if self._stopped is not None:
            raise self._stopped

    def _check_wait(self, endpoint: str, why: str | None, now: float, wait: float) -> None:
        """Raise :class:`RateCapped` for a wait of ``wait`` seconds (the reset and its
        slack) for an announced limit (``why`` names it; None: only an assumed window,
        never a cap) past ``max_wait``; else announce it."""
        until = now + wait - RESET_SLACK_SECS
        if why is not None and until - now > self.max_wait:
            raise cap(why, endpoint, until, now)
        if self._on_wait is not None and wait > 1.0:
            self._on_wait(endpoint, until)

    async def _pause(self, wait: float | None) -> None:
        """Sleep ``wait`` seconds (None: until woken), or until :meth:`_notify`; the time
        counts in :attr:`waited_secs`."""
        started = self._clock()
        with anyio.move_on_after(math.inf if wait is None else wait):
            await self._changed.wait()
        self.waited_secs += self._clock() - started

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()
