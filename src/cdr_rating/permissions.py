"""Who may read what cdr-rating writes: its owner and group, never everyone else.

The data directory holds customers' calls, numbers and invoices. Its folders are
created ``0750`` and its files ``0640`` whatever the process umask (cron and a shell
usually run with 022, which would make them world-readable): the modes are set
explicitly after creating. Folders and files that exist already keep their modes, so
an operator's tighter choice (0700, 0600) stands. The systemd unit in
docs/operations.md sets ``UMask=0027`` as well, for what other tools (SQLite's
journal, Python's temporary files) create there.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

DIRECTORY_MODE = 0o750
FILE_MODE = 0o640


def make_directories(path: Path) -> None:
    """Create the folder ``path`` and its missing parents, each ``DIRECTORY_MODE``.

    Raises:
        NotADirectoryError: a file stands where ``path`` or a parent should be.
        OSError: a folder cannot be created (no permission, a full disk).
    """
    missing: list[Path] = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        try:
            new.mkdir()
        except FileExistsError:  # created meanwhile by another process: theirs
            continue
        # mkdir's mode is cut by the umask; chmod's is not.
        new.chmod(DIRECTORY_MODE)
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
