"""Fault injection for the crash and lock tests: named kill and pause points.

Every crash protocol (the nightly run, closing a period, applying a re-rating) passes
named checkpoints; the kill-point tests kill the process at each one and check that
running again ends exactly as an uninterrupted run would.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from collections import Counter

KILL_AT_ENV = "CDR_RATING_TEST_KILL_AT"
PAUSE_AT_ENV = "CDR_RATING_TEST_PAUSE_AT"
DISK_FULL_AT_ENV = "CDR_RATING_TEST_DISK_FULL_AT"
_checkpoints_passed: Counter[str] = Counter()


def checkpoint(point: str) -> None:
    """A no-op unless a test sets it up.

    ``CDR_RATING_TEST_KILL_AT=point`` (or ``point#N``, the N-th time the point is
    passed) kills this process with SIGKILL there; ``CDR_RATING_TEST_PAUSE_AT=point:S``
    sleeps S seconds there; ``CDR_RATING_TEST_DISK_FULL_AT=point#N`` raises ``OSError``
    ENOSPC there the N-th time and every time after (a full disk stays full). Only tests
    set these variables; never set them in production.
    """
    kill_at, pause_at = os.environ.get(KILL_AT_ENV), os.environ.get(PAUSE_AT_ENV)
    full_at = os.environ.get(DISK_FULL_AT_ENV)
    if not kill_at and not pause_at and not full_at:
        return
    _checkpoints_passed[point] += 1
    here = {point, f"{point}#{_checkpoints_passed[point]}"}
    if kill_at in here:
        os.kill(os.getpid(), signal.SIGKILL)
    if full_at:
        name, _, first = full_at.partition("#")
        if name == point and _checkpoints_passed[point] >= int(first or 1):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if pause_at:
        name, _, seconds = pause_at.partition(":")
        if name in here:
            time.sleep(float(seconds or 1))
