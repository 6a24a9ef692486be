"""Crash points for fault-injection tests.

``FAILPOINTS=outbox.after_publish:<message type>,consumer.after_commit:<queue>``
makes the process exit at once (as a SIGKILL would: no clean-up, no ack, no
commit of anything in flight) the first time it reaches one of the named
points. Unset (the default), a failpoint costs one dictionary lookup.

Points: ``outbox.after_publish:<message type>`` (published and confirmed, not
yet marked sent), ``consumer.after_commit:<queue>`` (handled and committed,
not yet acked), ``saga.after_start:<saga type>`` (the saga's first
transaction committed, its command not yet published).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def failpoint(name: str) -> None:
    active = os.environ.get("FAILPOINTS")
    if active and name in active.split(","):
        log.critical("failpoint %s reached: exiting now", name)
        logging.shutdown()
        os._exit(137)
