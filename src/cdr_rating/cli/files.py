"""Files the commands write where the user says, and paths as the commands print them."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cdr_rating.errors import UsageError
from cdr_rating.permissions import make_directories

T = TypeVar("T")


def write_output(path: Path, option: str, write: Callable[[Path], T]) -> T:
    """``write(path)``; an output that cannot be written is a usage error (a bad ``option``).

    Raises:
        UsageError: ``write`` failed with an ``OSError`` (missing folder, no permission,
            a directory in the way, a full disk), naming the path and the option.
    """
    try:
        return write(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(
            f"{path}: cannot write it: {reason}; give {option} a writable path"
        ) from exc


def check_writable(path: Path, option: str, *, folder: bool = False) -> None:
    """Make sure, before any work, that ``path`` (a file, or a ``folder``) can be written.

    Creates the missing folders (the outputs that are written atomically do that
    anyway) and a temporary file in the folder, which it removes.

    Raises:
        UsageError: it cannot (see ``write_output``).
    """
    write_output(path, option, lambda target: _probe(target if folder else target.parent, target))


def _probe(directory: Path, target: Path) -> None:
    if target.is_dir() and directory != target:
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    make_directories(directory)
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".cdr-rating-", suffix=".probe"):
        pass


def shown_path(data_dir: Path, stored: str | None) -> str | None:
    """A path the ledger keeps relative to the data directory, as output shows it: absolute.

    The ledger and the manifests keep paths relative, so that a data directory can be
    moved; everything printed names a file that exists from wherever the command runs.
    """
    return None if stored is None else str((data_dir / stored).resolve())
