"""Seeded network and fault simulation.

Two sources of faults, both counted in the emulator's statistics:

- random rates from the profile's ``[faults]`` and ``[network]`` sections, drawn
  from one ``random.Random(seed)``, so a sequential client sees the same faults at
  the same requests on every run;
- a script of faults for the next matching requests
  (:meth:`FaultPlan.schedule`, or ``POST /_emulator/faults``), for tests that need
  a fault exactly where they expect it.

Fault kinds: ``error_500``, ``error_503``, ``burst_429`` (the user's next requests to
that endpoint get 429 although budget remains), ``drop_mid_body`` (part of the
request body is read, then the connection is dropped), ``drop_response`` (the
request takes effect, then the connection is dropped instead of answering),
``latency_spike`` and ``processing_failure``.

Server misbehaviour, as seen from proxies and overloaded front ends (each decided
once the endpoint is known, like the 500/503 faults):

- ``html_error``: a 502 whose body is a proxy's ``text/html`` page, no JSON; the
  request is not performed;
- ``garbage_200``: the request is performed, and its success answer becomes status
  200 with a body that is not JSON (a truncated object), since a 2xx means the server
  acted; an error answer is left alone (and the fault not counted);
- ``missing_fields``: the request is performed, and its success answer (same status)
  drops the fields the published contract requires: ``{"data": {}}`` (v2) or ``{}``
  (v1.1) for INIT/initialize, FINALIZE, STATUS and the one-request upload, and v2
  metadata (whose answer requires ``id``). Answers that require no field (APPEND, v2
  subtitles, v1.1 metadata and subtitles) have nothing to miss: the fault does not
  apply to them (a fault scripted for any endpoint waits for one it applies to), and
  it is counted only when it changed a success answer;
- ``close_connection``: the request is performed and answered normally, keeping the
  connection alive; the server then closes that connection when the client's next
  request arrives on it, unread and unanswered, as when a server's keep-alive timeout
  races a client reusing the connection (aiohttp: ``ServerDisconnectedError``);
- ``hang``: no answer at all: the server sleeps :data:`HANG_SECS` before answering
  (a 504 page), so the client's read timeout decides; the request is not performed,
  and the sleep ends when the client closes the connection (counted as status 0).

Not a fault but a test control of the same script: :meth:`FaultPlan.gather` holds the
next requests to an endpoint until a given number of them are held at once, then
lets them all go on. A test that must see requests in parallel waits for nothing but
that count: a client that sends them one at a time never fills it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from bulkup.core import spec
from bulkup.emulator.config import Faults, Network

FAULT_KINDS = (
    "error_500",
    "error_503",
    "burst_429",
    "drop_mid_body",
    "drop_response",
    "latency_spike",
    "processing_failure",
    "html_error",
    "garbage_200",
    "missing_fields",
    "close_connection",
    "hang",
)
#: Faults decided once the endpoint is known, before the request takes effect.
PRE_KINDS = (
    "error_500",
    "error_503",
    "burst_429",
    "html_error",
    "garbage_200",
    "missing_fields",
    "hang",
)
#: Faults that rewrite the success answer of a performed request; counted when applied.
REWRITE_KINDS = ("missing_fields", "garbage_200")
#: How long a ``hang`` fault keeps a request unanswered (unless the client leaves).
HANG_SECS = 3600.0

#: The faults injected into the request being handled, while :func:`noting` collects them.
_NOTED: ContextVar[list[str] | None] = ContextVar("bulkup_emulator_faults_noted", default=None)


@contextlib.contextmanager
def noting() -> Iterator[list[str]]:
    """Collect the kinds of the faults that affect the request handled in this context.

    Each request is handled in its own task, so the faults of one never show in
    another's list (:mod:`bulkup.emulator.requestlog` logs them).
    """
    noted: list[str] = []
    token = _NOTED.set(noted)
    try:
        yield noted
    finally:
        _NOTED.reset(token)


def note(kind: str) -> None:
    """Say that a fault of ``kind`` affects the current request (not counted again)."""
    noted = _NOTED.get()
    if noted is not None and kind not in noted:
        noted.append(kind)


@dataclass(slots=True)
class Scripted:
    kind: str
    endpoint: str | None
    remaining: int
    #: Matching requests to let through before the fault starts.
    skip: int = 0


@dataclass(slots=True)
class Gathering:
    """The next ``count`` requests to ``endpoint`` (any if None) wait for each other."""

    endpoint: str | None
    count: int
    arrived: int = 0
    full: asyncio.Event = field(default_factory=asyncio.Event)

    async def arrive(self) -> None:
        """Wait until ``count`` requests are here; one that leaves first is not counted."""
        self.arrived += 1
        if self.arrived >= self.count:
            self.full.set()
        try:
            await self.full.wait()
        except asyncio.CancelledError:
            if not self.full.is_set():
                self.arrived -= 1
            raise


class FaultPlan:
    """Decides, request by request, which fault (if any) to inject."""

    def __init__(self, faults: Faults, network: Network) -> None:
        self.faults = faults
        self.network = network
        self._rng = random.Random(faults.seed)
        self._script: list[Scripted] = []
        self._gatherings: list[Gathering] = []
        self.injected: Counter[str] = Counter()
        #: Called after each injected fault (the emulator wakes its waiters).
        self.on_inject: Callable[[], None] = lambda: None

    def schedule(
        self, kind: str, *, endpoint: str | None = None, count: int = 1, after: int = 0
    ) -> None:
        """Inject ``kind`` into ``count`` requests to ``endpoint`` (any if None).

        The first ``after`` matching requests pass untouched, so a test can let a run
        make progress and then fail it at a known point.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if count < 1 or after < 0:
            raise ValueError("count must be >= 1 and after >= 0")
        if endpoint is not None and endpoint not in spec.ENDPOINTS:
            raise ValueError(
                f"unknown endpoint {endpoint!r}; known: {', '.join(spec.ENDPOINTS)} (or None: any)"
            )
        self._script.append(Scripted(kind, endpoint, count, after))

    def clear(self) -> None:
        """Forget the scripted faults not injected yet (the random rates stay)."""
        self._script.clear()

    def gather(self, count: int, *, endpoint: str | None = None) -> Gathering:
        """Hold the next ``count`` requests to ``endpoint`` (any if None) until all
        ``count`` are held at once, then let them go on together.

        A test of parallelism: the requests are answered only if the client has that
        many in flight at the same time.
        """
        if count < 1:
            raise ValueError("count must be >= 1")
        if endpoint is not None and endpoint not in spec.ENDPOINTS:
            raise ValueError(
                f"unknown endpoint {endpoint!r}; known: {', '.join(spec.ENDPOINTS)} (or None: any)"
            )
        gathering = Gathering(endpoint, count)
        self._gatherings.append(gathering)
        return gathering

    def gathering(self, endpoint: str | None) -> Gathering | None:
        """The gathering a request to ``endpoint`` joins, if one is still filling."""
        for gathering in self._gatherings:
            if gathering.endpoint in (None, endpoint):
                if gathering.arrived + 1 >= gathering.count:
                    self._gatherings.remove(gathering)  # this request fills it
                return gathering
        return None

    def _take_scripted(self, kinds: tuple[str, ...], endpoint: str | None) -> str | None:
        for entry in self._script:
            if entry.kind in kinds and entry.endpoint in (None, endpoint):
                if entry.skip > 0:
                    entry.skip -= 1
                    continue
                entry.remaining -= 1
                if entry.remaining == 0:
                    self._script.remove(entry)
                return entry.kind
        return None

    def _hit(self, kind: str, endpoint: str | None, rate: float, *, count: bool = True) -> bool:
        hit = self._take_scripted((kind,), endpoint) == kind or (
            rate > 0 and self._rng.random() < rate
        )
        if hit and count:
            self.record(kind)
        return hit

    def record(self, kind: str) -> None:
        """Count one injected fault of ``kind``."""
        self.injected[kind] += 1
        note(kind)
        self.on_inject()

    def latency_secs(self, endpoint: str | None, body_bytes: int) -> float:
        """Delay for one request: latency, jitter, a possible spike, bandwidth."""
        net = self.network
        delay = net.latency_ms
        if net.jitter_ms:
            delay += self._rng.uniform(0, net.jitter_ms)
        if self._hit("latency_spike", endpoint, net.spike_rate):
            delay += net.spike_ms
        seconds = delay / 1000.0
        if net.bandwidth_bytes_per_sec and body_bytes > 0:
            seconds += body_bytes / net.bandwidth_bytes_per_sec
        return seconds

    def drop_mid_body(self, endpoint: str | None) -> bool:
        return self._hit("drop_mid_body", endpoint, self.faults.drop_mid_body_rate)

    def before(self, endpoint: str, *, strippable: bool = True) -> str | None:
        """A fault for this request, decided before it takes effect, if any.

        ``strippable`` says whether the answer has required fields ``missing_fields``
        could drop; if not, that kind is not drawn. The :data:`REWRITE_KINDS` are
        counted by :meth:`record` once they changed an answer, not here.
        """
        faults = self.faults
        rates = {
            "error_500": faults.error_500_rate,
            "error_503": faults.error_503_rate,
            "burst_429": faults.burst_429_rate,
            "html_error": faults.html_error_rate,
            "garbage_200": faults.garbage_200_rate,
            "missing_fields": faults.missing_fields_rate,
            "hang": faults.hang_rate,
        }
        for kind in PRE_KINDS:
            if kind == "missing_fields" and not strippable:
                continue
            if self._hit(kind, endpoint, rates[kind], count=kind not in REWRITE_KINDS):
                return kind
        return None

    def drop_response(self, endpoint: str) -> bool:
        return self._hit("drop_response", endpoint, self.faults.drop_response_rate)

    def close_connection(self, endpoint: str) -> bool:
        return self._hit("close_connection", endpoint, self.faults.close_connection_rate)

    def processing_failure(self) -> bool:
        return self._hit("processing_failure", "finalize", self.faults.processing_failure_rate)
