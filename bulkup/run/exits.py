"""Exit status of ``bulkup``: one table, used by every command and shown by ``--help``.

When a run's outcomes mix, the first that applies in this order wins:
130/143 (interrupted), 2 (refused), 1 (failed), 75 (left for later), 0.
"""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
#: Some item failed for a reason a rerun would meet again (the report says which).
EXIT_FAILED: Final = 1
#: Usage, configuration or credentials refused (an untrusted certificate included).
EXIT_USAGE: Final = 2
#: Work is left that a later run can finish (EX_TEMPFAIL): a rate cap, or a server
#: that could not be reached or stopped answering (the run's stall stop).
EXIT_LATER: Final = 75
EXIT_INTERRUPTED: Final = 130  # SIGINT
EXIT_TERMINATED: Final = 143  # SIGTERM

#: Error kinds that a later run with the same checkpoint can finish.
#: A run stopped by ``--stall-timeout`` (``stalled``) is one: the server stopped
#: answering, nothing is wrong with the items, and the checkpoint resumes them.
LATER_KINDS: Final = frozenset({"rate_capped", "transport_error", "timeout", "stalled"})
#: Error kinds that mean the run itself was refused: credentials, certificate.
REFUSED_KINDS: Final = frozenset({"auth_error", "tls_error"})

TABLE: Final = """\
exit status (when outcomes mix, the first of 130/143, 2, 1, 75 that applies wins):
  0    every item succeeded
  1    some items failed (the report says why)
  2    usage, configuration or credentials refused (an untrusted certificate too)
  75   work left that a later run can finish: a rate cap, or a server that could
       not be reached or stopped answering (--stall-timeout); rerun with the same
       --checkpoint
  130  interrupted (SIGINT); 143 terminated (SIGTERM); the checkpoint is saved"""


def for_run(*, refused: bool, failed: bool, left: bool) -> int:
    """The exit status of a run that was not interrupted."""
    if refused:
        return EXIT_USAGE
    if failed:
        return EXIT_FAILED
    if left:
        return EXIT_LATER
    return EXIT_OK
