"""Journals: what an interrupted writer was about to do, written before it does it.

A writer under the run lock (the nightly run, closing a period, applying a re-rating,
voiding an invoice) first writes a journal, ``journal/<kind>-<name>.json``, naming the
store files it is about to create or replace (or the invoice it is about to void),
flushed to disk before the first of them. It removes the journal once its ledger commit
and the work after it are done. A journal still there is proof that its writer was
interrupted: the next one undoes or finishes exactly what the journal names, and
nothing else.

A stored file is never removed merely because the ledger does not list it: a ledger
restored from an older backup does not list the files written since, and those are the
books' evidence (``layout.remove_orphans``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cdr_rating.errors import InputError
from cdr_rating.store.files import fsync_directory, write_bytes
from cdr_rating.store.layout import DataDir

# run, close and rerate journals name store files (relative paths); a void journal
# names the invoice being voided.
JournalKind = Literal["run", "close", "rerate", "void"]


@dataclass(frozen=True)
class Journal:
    path: Path
    kind: JournalKind
    entries: tuple[str, ...]


def write_journal(data: DataDir, kind: JournalKind, name: str, entries: Sequence[str]) -> Journal:
    """Write (or replace) the journal ``kind``-``name`` naming ``entries``, atomically
    and flushed: when this returns, the journal survives a crash."""
    path = data.journals / f"{kind}-{name}.json"
    text = json.dumps({"kind": kind, "entries": list(entries)}, indent=1) + "\n"
    write_bytes(path, text.encode("utf-8"), point="journal-temporary-written")
    return Journal(path, kind, tuple(entries))


def journals(data: DataDir, kind: JournalKind) -> list[Journal]:
    """The journals of ``kind`` left by interrupted writers, oldest name first.

    Raises:
        InputError: a journal that cannot be read (exit 3).
    """
    if not data.journals.is_dir():
        return []
    found = []
    for path in sorted(data.journals.glob(f"{kind}-*.json")):
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))["entries"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"{path}: journal of an interrupted {kind} is unreadable ({exc}); move it "
                "away and run cdr-rating ledger check"
            ) from exc
        found.append(Journal(path, kind, tuple(str(entry) for entry in entries)))
    return found


def clear_journal(journal: Journal) -> None:
    """The work the journal names is done: remove it (and flush that)."""
    journal.path.unlink(missing_ok=True)
    fsync_directory(journal.path.parent)
