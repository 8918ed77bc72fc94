"""The public uploader: ``async with Uploader(...) as up``.

- ``await up.upload(path)`` uploads one file and returns its :class:`Result`.
- ``async for result in up.upload_many(items, checkpoint=...)`` uploads many,
  streaming each result as its item finishes.

One :class:`Uploader` owns one aiohttp session and one rate-limit pacer, shared by
every upload it performs; it installs no signal handlers and keeps no global state,
so a service can hold one for its lifetime. Limits (see :class:`UploadConfig`):
``concurrency`` requests in flight, ``files_in_flight`` files between INIT and
FINALIZE, ``segments_per_file`` APPENDs per file. A file is INITed only when it is
admitted; with a checkpoint, unfinished uploads from an earlier run go first,
nearest deadline first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import anyio
from anyio.abc import TaskGroup

from bulkup import logs
from bulkup.auth.credentials import Auth, auth_from_env
from bulkup.client.admission import Feed, Run, Slot, problem_result
from bulkup.client.config import UploadConfig
from bulkup.client.driver import ItemUpload, Runtime
from bulkup.client.ledger import FinishedFiles
from bulkup.client.pacer_api import RatePacer
from bulkup.client.pacing import Pacer
from bulkup.client.progress import NullObserver, Observer, answer_listener, wait_listener
from bulkup.client.transport import Transport
from bulkup.core import spec
from bulkup.core.dialects import dialect_for
from bulkup.core.items import Item, Result, SourceProblem
from bulkup.core.order import Queue
from bulkup.core.resume import resume_priority
from bulkup.errors import (
    AuthError,
    BulkupError,
    ConfigError,
    TLSError,
    UploadError,
    single_error,
)
from bulkup.run.checkpoint import Checkpoint, RunIdentity
from bulkup.run.posts import PostPlan

Entry = Item | SourceProblem
#: Results waiting for a slow consumer before uploads pause.
RESULT_BUFFER = 64
#: How many source entries are read ahead to find an earlier run's unfinished uploads.
RESUME_LOOKAHEAD = 100_000


class Uploader:
    """Uploads files to the X media upload API (or the emulator)."""

    def __init__(
        self,
        config: UploadConfig | None = None,
        *,
        auth: Auth | None = None,
        http: aiohttp.ClientSession | None = None,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
        observer: Observer | None = None,
    ) -> None:
        """``observer`` receives each step of each item (for progress displays)."""
        self.config = config or UploadConfig()
        self.auth = auth if auth is not None else auth_from_env(endpoint=self.config.endpoint)
        self._http = http
        self._own_http = http is None
        self._rng = random.Random(seed)
        self._clock = clock
        self._observer: Observer = observer or NullObserver()
        self._stack: contextlib.AsyncExitStack | None = None
        self._tg: TaskGroup | None = None
        self._runtime: Runtime | None = None
        self._dropped = 0

    # --- lifecycle ---------------------------------------------------------------------
    async def __aenter__(self) -> Uploader:
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            if self._http is None:
                self._http = await stack.enter_async_context(self._new_session())
            pacer = await stack.enter_async_context(self._pacer())
            timeout = aiohttp.ClientTimeout(
                total=None, connect=self.config.connect_timeout, sock_read=self.config.read_timeout
            )
            transport = Transport(
                self._http,
                self.auth,
                pacer,
                timeout=timeout,
                concurrency=self.config.concurrency,
                min_send_rate=self.config.min_send_rate,
                stall_timeout=self.config.stall_timeout,
            )
            transport.on_answer = answer_listener(self._observer)
            dialect = dialect_for(self.config.api, self.config.base_url)
            self._runtime = Runtime(
                self.config, dialect, transport, self._rng, self._clock, self._observer
            )
            self._tg = await stack.enter_async_context(anyio.create_task_group())
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tg is not None:
            self._tg.cancel_scope.cancel()  # stop background runs nobody consumes any more
        if self._runtime is not None:
            self._runtime.transport.stall.close()
        if self._stack is not None:
            if isinstance(exc, Exception):
                # The body's own error goes on as it is: handed to the task group it
                # would come out wrapped in an ExceptionGroup (anyio 4), and callers
                # catching BulkupError (a refused checkpoint) would miss it.
                await self._stack.__aexit__(None, None, None)
            else:
                await self._stack.__aexit__(exc_type, exc, tb)
        self._stack = self._tg = self._runtime = None
        if self._own_http:
            self._http = None

    def _pacer(self) -> contextlib.AbstractAsyncContextManager[RatePacer]:
        """This process's own budgets, or with ``budget`` (a Redis URL) the shared ones."""
        settings: dict[str, Any] = {
            "clock": self._clock,
            "max_wait": self.config.max_wait,
            "on_wait": self._waiting,
            # Until answers announce them: v2's published limits; v1.1 published none.
            "published": spec.RATE_LIMITS if self.config.api == "v2" else None,
            "fraction": self.config.budget_fraction,
        }
        if self.config.budget is None or not self.config.pacing:
            return contextlib.nullcontext(Pacer(enabled=self.config.pacing, **settings))
        from bulkup.client.budget_url import BudgetServer
        from bulkup.client.shared_budget import SharedPacer, app_of

        server = BudgetServer.from_url(self.config.budget)
        shared = SharedPacer(server, account=self.auth.account, app=app_of(self.auth), **settings)
        return shared.connected()

    def _waiting(self, endpoint: str, until: float) -> None:
        """Requests to ``endpoint`` wait for a rate limit: the observer and the log hear."""
        wait_listener(self._observer)(endpoint, until)
        when = dt.datetime.fromtimestamp(until, dt.UTC).isoformat(timespec="seconds")
        logs.event("info", "rate_limit_wait", endpoint=endpoint, until=when)

    def _new_session(self) -> aiohttp.ClientSession:
        ssl_context = tls_setting(verify=self.config.verify_tls, ca_bundle=self.config.ca_bundle)
        connector = aiohttp.TCPConnector(
            limit=self.config.concurrency, limit_per_host=self.config.concurrency, ssl=ssl_context
        )
        return aiohttp.ClientSession(connector=connector, raise_for_status=False)

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("use the Uploader as 'async with Uploader(...) as up'")
        return self._runtime

    @property
    def refused(self) -> UploadError | None:
        """What stopped the run from sending: credentials (an :class:`AuthError`) or a
        certificate (a :class:`TLSError`) the server refused; None while nothing did."""
        refused = self.runtime.transport.refused
        return refused if isinstance(refused, AuthError | TLSError) else None

    @property
    def stopped(self) -> UploadError | None:
        """Whatever stopped the run from sending, or None: :attr:`refused`, a server no
        request of the run reached (:class:`~bulkup.errors.Unreachable`), or one that
        stopped answering (:class:`~bulkup.errors.StallError`). Its message names the
        cause and what to do; the items it kept from being sent are reported skipped
        with it."""
        return self.runtime.transport.refused

    @property
    def stats(self) -> dict[str, Any]:
        counters = self.runtime.transport.counters
        return {
            "requests": counters.requests,
            "bytes_sent": counters.bytes_sent,
            "retries": counters.retries,
            "rate_limit_wait_s": round(self.runtime.transport.pacer.waited_secs, 3),
            "dropped_from_checkpoint": self._dropped,
        }

    # --- one file ----------------------------------------------------------------------
    async def upload(
        self,
        path: str | os.PathLike[str],
        *,
        id: str | None = None,
        media_type: str | None = None,
        media_category: str | None = None,
        alt_text: str | None = None,
        additional_owners: Iterable[str] = (),
        shared: bool = False,
        sensitive_media_warning: Iterable[str] = (),
        allow_download: bool | None = None,
    ) -> Result:
        """Upload one file now (no checkpoint) and return its result."""
        category = _category(media_category)
        item = Item(
            id=id or os.fspath(path),
            path=Path(os.path.abspath(path)),  # noqa: ASYNC240 - getcwd only, no disk I/O
            media_type=media_type,
            media_category=category,
            alt_text=alt_text,
            sensitive_media_warning=tuple(sensitive_media_warning),
            allow_download=allow_download,
            additional_owners=tuple(additional_owners),
            shared=shared,
        )
        return await ItemUpload(self.runtime, item, None).run()

    # --- many files ----------------------------------------------------------------------
    async def upload_many(
        self,
        items: Iterable[Entry] | AsyncIterable[Entry],
        *,
        checkpoint: str | os.PathLike[str] | Checkpoint | None = None,
        posts: PostPlan | None = None,
        unique_ids: bool = False,
    ) -> AsyncIterator[Result]:
        """Upload every item, yielding each result as soon as its item finishes.

        ``checkpoint`` is a path, opened for this run's endpoint, dialect and account,
        or a :class:`Checkpoint` the caller opened for them (the command line does, to
        hold its lock before it empties the report); either is closed when the run ends.

        With ``posts`` (from :func:`bulkup.run.posts.plan_posts`), items of a post that
        cannot be made are reported failed without uploading, and every result of a
        post's item is recorded in it. Once the API refuses the credentials, the items
        not yet started are reported skipped instead of being sent.

        An id given again is not uploaded twice. ``unique_ids=True`` vouches that every
        id comes once (as from :func:`bulkup.iter_sources`, which reports a repeated id
        as a problem), and the run then keeps no set of the ids it met.
        """
        if self._tg is None:
            raise RuntimeError("use the Uploader as 'async with Uploader(...) as up'")
        send, receive = anyio.create_memory_object_stream[Result](RESULT_BUFFER)
        failure: list[BaseException] = []
        scope = anyio.CancelScope()
        run = Run(send, posts, self._observer, self.runtime.transport)
        if unique_ids:
            run.seen = None
        self._tg.start_soon(self._run_many, items, checkpoint, run, scope, failure)
        try:
            async with receive:
                async for result in receive:
                    yield result
        finally:
            scope.cancel()
        if failure:
            raise failure[0]

    async def _run_many(
        self,
        items: Iterable[Entry] | AsyncIterable[Entry],
        checkpoint_path: str | os.PathLike[str] | Checkpoint | None,
        run: Run,
        scope: anyio.CancelScope,
        failure: list[BaseException],
    ) -> None:
        with scope:
            async with run.send:
                try:
                    await self._schedule(items, checkpoint_path, run)
                except Exception as exc:  # handed to the consumer, which re-raises it
                    failure.append(_one_error(exc))

    async def _schedule(
        self,
        items: Iterable[Entry] | AsyncIterable[Entry],
        checkpoint_path: str | os.PathLike[str] | Checkpoint | None,
        run: Run,
    ) -> None:
        checkpoint = None
        if isinstance(checkpoint_path, Checkpoint):
            checkpoint = checkpoint_path
        elif checkpoint_path is not None:
            identity = RunIdentity(
                endpoint=self.config.base_url, dialect=self.config.api, account=self.auth.account
            )
            checkpoint = Checkpoint.open(checkpoint_path, identity)
        pacer = self.runtime.transport.pacer
        if checkpoint is not None:
            run.finished, run.checkpoint = FinishedFiles(checkpoint), checkpoint
            pacer.restore(checkpoint.budgets)  # the windows an earlier run last saw
        files = anyio.CapacityLimiter(self.config.files_in_flight)
        priorities = run.posts.priorities if run.posts is not None else {}
        feed = Feed(Queue(self.config.lookahead, group_priority=priorities))
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._read, items, checkpoint, run, feed)
                while (slot := await self._next_slot(files, feed)) is not None:
                    await self._admit(tg, slot, feed.take(), checkpoint, run)
        finally:
            if checkpoint is not None:
                checkpoint.keep_budgets(pacer.snapshot())
                checkpoint.close()  # synchronous: runs to the end even when cancelled

    async def _read(
        self,
        items: Iterable[Entry] | AsyncIterable[Entry],
        checkpoint: Checkpoint | None,
        run: Run,
        feed: Feed,
    ) -> None:
        """Read the sources into the planner's queue, up to its lookahead; a problem
        or an item that must not be sent is reported at once."""
        async for entry, deadline in self._ordered(items, checkpoint):
            if isinstance(entry, SourceProblem):
                await run.emit_unsent(problem_result(entry))
            elif run.first_time(entry.id):
                refusal = run.refusal(entry)
                if refusal is not None:
                    await run.emit_unsent(refusal)
                    continue
                await feed.put(entry, deadline)
        feed.close()

    async def _next_slot(self, files: anyio.CapacityLimiter, feed: Feed) -> Slot | None:
        """A files-in-flight slot for the next item, once one is free and an item is
        waiting; None when the sources are done."""
        slot = Slot(files)
        await slot.acquire()  # INIT only on admission: queued files do not burn expiry time
        if await feed.wait_for_item():
            return slot
        with slot:
            return None

    async def _admit(
        self,
        tg: TaskGroup,
        slot: Slot,
        item: Item,
        checkpoint: Checkpoint | None,
        run: Run,
    ) -> None:
        stopped = run.stopped(item)  # while it waited for the slot
        if stopped is not None:
            with slot:
                await run.emit_unsent(stopped)
            return
        upload = ItemUpload(self.runtime, item, checkpoint, slot, run.finished)

        async def perform() -> None:
            await run.emit(await upload.run())

        tg.start_soon(perform)

    async def _ordered(
        self, items: Iterable[Entry] | AsyncIterable[Entry], checkpoint: Checkpoint | None
    ) -> AsyncIterator[tuple[Entry, float | None]]:
        """The sources' entries, each with its deadline if it is an earlier run's
        unfinished upload (the queue gives those first, nearest deadline first, so they
        resume before their upload sessions expire).

        The source decides what is uploaded: an unfinished upload resumes only when a
        source still names its id (with the entry the source gives now), looked for in
        the first :data:`RESUME_LOOKAHEAD` entries; one no source names is not uploaded
        and is counted in ``stats["dropped_from_checkpoint"]``.
        """
        waiting = self._unfinished(checkpoint)
        source = _aiter(items).__aiter__()
        held: list[Entry] = []
        found: list[tuple[float, Item]] = []
        if waiting:
            async for entry in source:
                if isinstance(entry, Item) and entry.id in waiting:
                    found.append((waiting.pop(entry.id), entry))
                else:
                    held.append(entry)
                if not waiting or len(held) >= RESUME_LOOKAHEAD:
                    break
        for deadline, item in found:
            yield item, deadline
        for entry in held:
            yield entry, None
        async for entry in source:
            if isinstance(entry, Item):
                waiting.pop(entry.id, None)
            yield entry, None
        self._dropped = len(waiting)
        if waiting:
            reason = "no source names them any more: not uploaded"
            logs.event("warning", "checkpoint_items_dropped", ids=sorted(waiting), reason=reason)

    def _unfinished(self, checkpoint: Checkpoint | None) -> dict[str, float]:
        """Unfinished uploads of an earlier run that can still continue: id → deadline."""
        if checkpoint is None:
            return {}
        now, margin = self._clock(), self.config.resume_margin
        waiting: dict[str, float] = {}
        for record in checkpoint:
            deadline = resume_priority(record, now, margin)
            if deadline is not None:
                waiting[record.id] = deadline
        return waiting


def tls_setting(*, verify: bool, ca_bundle: str | None) -> ssl.SSLContext | bool:
    """aiohttp's ``ssl=``: no verification, the system's CAs, or those of ``ca_bundle``."""
    if not verify:
        return False
    if ca_bundle is None:
        # aiohttp's verified context (the system's CAs), built once when aiohttp was
        # imported: building the same again cost 15-45 ms of every start-up.
        return True
    return _ssl_context(ca_bundle)


def _ssl_context(ca_bundle: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise ConfigError(
            f"cannot load the CA bundle {ca_bundle}: {reason}; give a PEM file of CA certificates"
        ) from None


def _one_error(exc: Exception) -> Exception:
    """The first BulkupError of a group of them (a full disk seen by several items at once).

    A group holding anything else (a bug) is kept whole, with its tracebacks.
    """
    return single_error(exc, BulkupError)


def _category(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        return spec.normalize_category(name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


async def _aiter(items: Iterable[Entry] | AsyncIterable[Entry]) -> AsyncIterator[Entry]:
    if isinstance(items, AsyncIterable):
        async for entry in items:
            yield entry
    else:
        for entry in items:
            yield entry
