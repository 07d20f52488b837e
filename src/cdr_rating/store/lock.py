"""One run at a time: the lock file of the data directory."""

from __future__ import annotations

import fcntl
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from cdr_rating.errors import LockHeldError
from cdr_rating.faults import checkpoint
from cdr_rating.permissions import FILE_MODE, make_directories

LOCK_FILE = "run.lock"


class RunLock:
    """One run at a time: an exclusive ``flock`` on ``data_dir/run.lock``.

    The kernel releases the lock when the holder exits, however it exits (even on
    SIGKILL), so a stale lock file never blocks a run. The holder writes its pid and
    start time into the file so that the next one can say who holds it. A dry run
    (``shared=True``) takes a shared lock and writes nothing; it does not create the
    file either.
    """

    def __init__(self, data_dir: Path, *, shared: bool = False) -> None:
        self.path = data_dir / LOCK_FILE
        self.shared = shared
        self._descriptor: int | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        if self.shared:
            if not self.path.exists():
                return
            descriptor = os.open(self.path, os.O_RDONLY)
        else:
            make_directories(self.path.parent)
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(
                descriptor, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
            )
        except BlockingIOError:
            os.close(descriptor)
            raise LockHeldError(self._held_message()) from None
        self._descriptor = descriptor
        if not self.shared:
            holder = json.dumps({"pid": os.getpid(), "started": _now()}) + "\n"
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, holder.encode(), 0)
            os.fsync(descriptor)
        checkpoint("locked")

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing the last descriptor releases the flock
            self._descriptor = None

    def _held_message(self) -> str:
        where = self.path.parent
        for _ in range(20):  # the holder writes its pid just after taking the lock
            holder = _read_holder(self.path)
            if holder is not None:
                pid, started = holder
                if _alive(pid):
                    return (
                        f"another run (pid {pid}, started {started}) holds the lock on "
                        f"{where}; try again later"
                    )
            time.sleep(0.05)
        return f"another process holds the lock on {where} (a --dry-run?); try again later"


def _read_holder(path: Path) -> tuple[int, str] | None:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        return int(holder["pid"]), str(holder["started"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
