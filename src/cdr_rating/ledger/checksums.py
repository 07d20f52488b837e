"""The sha256 of every stored file, as the ledger keeps them (schema 4).

A store file's checksum sits beside the row that refers to it: a rated or rejects file's
(and its call index's) in ``partition_files``, an invoice's itemised calls, HTML and PDF
in ``invoices``. So a checksum is written and removed in the same transaction as the
reference to its file, and there is no list of checksums to keep in step with the store.
Null means not recorded: the file was written before schema 4 (``jobs.verify`` records
it on the file's first read).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cdr_rating.ledger import Ledger

# What a recorded file is: a store file, the call index of a rated one, or a part of a
# final document.
FILE_KINDS = ("rated", "rejects", "index", "calls", "html", "pdf")


@dataclass(frozen=True)
class RecordedFile:
    """A file the ledger refers to; ``path`` is in the data directory, except for an
    ``index`` file, whose path is its rated file's (the store knows where its index is)."""

    path: str
    kind: str
    checksum: str | None


def recorded_files(ledger: Ledger) -> list[RecordedFile]:
    """Every file the ledger refers to, with its checksum, in path order per kind."""
    connection = ledger._connection
    found = [
        RecordedFile(path, kind, checksum)
        for path, kind, checksum in connection.execute(
            "SELECT path, kind, checksum FROM partition_files ORDER BY path"
        )
    ]
    found += [
        RecordedFile(path, "index", checksum)
        for path, checksum in connection.execute(
            "SELECT path, index_checksum FROM partition_files WHERE kind = 'rated' ORDER BY path"
        )
    ]
    for kind in ("calls", "html", "pdf"):
        rows = connection.execute(
            f"SELECT {kind}, max({kind}_checksum) FROM invoices WHERE {kind} IS NOT NULL "
            f"GROUP BY {kind} ORDER BY {kind}"
        )
        found += [RecordedFile(path, kind, checksum) for path, checksum in rows]
    return found


def record_partition_checksums(
    ledger: Ledger,
    checksums: Mapping[str, str] | None = None,
    index_checksums: Mapping[str, str] | None = None,
) -> None:
    """Record the checksums of store files (by path) and of their call index files (by
    the rated file's path), in one transaction."""
    with ledger.transaction() as connection:
        connection.executemany(
            "UPDATE partition_files SET checksum = ? WHERE path = ?",
            [(checksum, path) for path, checksum in (checksums or {}).items()],
        )
        connection.executemany(
            "UPDATE partition_files SET index_checksum = ? WHERE path = ?",
            [(checksum, path) for path, checksum in (index_checksums or {}).items()],
        )


def record_calls_checksums(ledger: Ledger, checksums: Mapping[str, str]) -> None:
    """Record the checksums of itemised-call files written before schema 4."""
    with ledger.transaction() as connection:
        connection.executemany(
            "UPDATE invoices SET calls_checksum = ? WHERE calls = ? AND calls_checksum IS NULL",
            [(checksum, path) for path, checksum in checksums.items()],
        )
