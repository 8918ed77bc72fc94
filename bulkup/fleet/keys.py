"""Every Redis key of the fleet, and the fields each one holds: the one contract between
the queue (``submit``, ``worker``), its readers (``status``, ``report``, ``dashboard``,
``/metrics``) and the shared budgets (:mod:`bulkup.client.shared_budget`).

Every key starts with ``bulkup:{NAME}:``, NAME the deployment (default ``bulkup``); the
braces are a Redis Cluster hash tag, so multi-key scripts work on a Cluster too. Times
are Unix seconds (floats as decimal strings) of the Redis server's clock (``TIME``),
so hosts' clocks do not matter.

======================  ===========  =====================================================
key                     type         holds
======================  ===========  =====================================================
``jobs``                sorted set   job names, scored by last activity
``job:J``               hash         :data:`JOB_FIELDS`
``job:J:q``             stream       one entry per item to do (field ``id``); group ``workers``
``job:J:item:ID``       hash         :data:`ITEM_FIELDS`
``job:J:item:ID:segs``  bitmap       acknowledged segment indices (``SETBIT``, fenced)
``job:J:item:ID:hashes`` hash        segment index → SHA-256 of the bytes sent (fenced)
``job:J:results``       stream       one entry per finished item (field ``line``: the
                                     JSON report line, the same fields as ``--report``);
                                     the entry id's milliseconds are its finish time
``job:J:counts``        hash         items by state (:data:`STATES`), and ``bytes``: the
                                     bytes of the items that succeeded
``job:J:ids``           set          the job's item ids (``status``, ``report``, expiry)
``workers``             sorted set   worker ids, scored by heartbeat expiry
``worker:W``            hash         :data:`WORKER_FIELDS`; expires with its heartbeat
``budget:A:E[:day]``    hash         the shared budgets (``bulkup.client.budget_scripts``)
``app:P:E:day``         hash         an app's 24-hour cap; each budget hash has ``…:leases``
``lock:token:A``        string       ``SET NX PX``: one worker refreshes account A's tokens
``token:A``             string       A's rotated OAuth 2.0 tokens, Fernet-encrypted
======================  ===========  =====================================================
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "GROUP",
    "ITEM_FIELDS",
    "JOB_FIELDS",
    "STATES",
    "WORKER_FIELDS",
    "Keys",
]

#: The consumer group every worker reads a job's stream in.
GROUP: Final = "workers"

#: An item's states: ``pending`` (submitted, no worker holds it), ``running`` (a worker
#: holds it under a lease), then one of the report's statuses, final.
STATES: Final = ("pending", "running", "succeeded", "failed", "skipped")

#: ``job:J``: ``created`` (time), ``submitted`` (items submitted, all submits), ``keep``
#: (seconds a finished job is kept), ``state`` (``active`` or ``finished``),
#: ``finished_at`` (time the last item finished), ``endpoint`` (where it uploads, for
#: display only; no secret).
JOB_FIELDS: Final = ("created", "submitted", "keep", "state", "finished_at", "endpoint")

#: ``job:J:item:ID``: ``spec`` (JSON: the item's fields as a manifest line gives them,
#: with ``path`` absolute, plus ``host``, ``size``, ``mtime_ns``, ``inode`` at submit),
#: ``state`` (:data:`STATES`), ``gen`` (claim generation, fencing), ``owner`` (worker id),
#: ``lease_until`` (time), ``media_id``, ``deadline`` (time the upload session expires),
#: ``record`` (JSON: the item's checkpoint record, :mod:`bulkup.core.record_codec`),
#: ``result`` (JSON report line), ``account`` (name, or empty), ``size`` (bytes),
#: ``acked_bytes``, ``updated`` (time); added by the queue: ``file`` (``HOST:PATH:SIZE:
#: MTIME_NS:INODE``, what "the same file" means to ``submit``), ``entry`` (the id of the
#: item's entry in ``job:J:q``).
ITEM_FIELDS: Final = (
    "spec",
    "state",
    "gen",
    "owner",
    "lease_until",
    "media_id",
    "deadline",
    "record",
    "result",
    "account",
    "size",
    "acked_bytes",
    "updated",
    "file",
    "entry",
)

#: ``worker:W``: ``host``, ``pid``, ``started`` (time), ``version``, ``seen`` (time of
#: its last heartbeat), ``items`` (JSON list of what it uploads now:
#: ``{"job", "id", "path", "size", "acked_bytes", "stage"}``), ``done`` (items it
#: finished), ``accounts`` (JSON list of account names it holds credentials for).
WORKER_FIELDS: Final = ("host", "pid", "started", "version", "seen", "items", "done", "accounts")


class Keys:
    """The key names of one deployment."""

    def __init__(self, name: str = "bulkup") -> None:
        self.prefix = f"bulkup:{{{name}}}:"

    @property
    def jobs(self) -> str:
        return f"{self.prefix}jobs"

    def job(self, job: str) -> str:
        return f"{self.prefix}job:{job}"

    def queue(self, job: str) -> str:
        return f"{self.prefix}job:{job}:q"

    def item(self, job: str, item_id: str) -> str:
        return f"{self.prefix}job:{job}:item:{item_id}"

    def segs(self, job: str, item_id: str) -> str:
        return f"{self.prefix}job:{job}:item:{item_id}:segs"

    def hashes(self, job: str, item_id: str) -> str:
        return f"{self.prefix}job:{job}:item:{item_id}:hashes"

    def results(self, job: str) -> str:
        return f"{self.prefix}job:{job}:results"

    def counts(self, job: str) -> str:
        return f"{self.prefix}job:{job}:counts"

    def ids(self, job: str) -> str:
        return f"{self.prefix}job:{job}:ids"

    @property
    def workers(self) -> str:
        return f"{self.prefix}workers"

    def worker(self, worker: str) -> str:
        return f"{self.prefix}worker:{worker}"

    def token_lock(self, account: str) -> str:
        return f"{self.prefix}lock:token:{account}"

    def token(self, account: str) -> str:
        return f"{self.prefix}token:{account}"
