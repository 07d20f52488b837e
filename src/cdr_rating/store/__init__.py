"""The data directory: its layout, stored schemas, atomic writes, the call index and
the run lock. Only this package knows where files live and what columns they keep.

Every file is written beside its final name under a hidden temporary name, flushed to
disk and renamed into place (``files``). The ledger is the source of truth; a writer
names the files it is about to create in a journal first (``journal``), and the next run
removes those of them the ledger did not commit, and nothing else
(``layout.remove_orphans``).
"""

from cdr_rating.store.calls import (
    MONEY,
    RATED,
    REJECTS,
    RERATE_FIELDS,
    Piece,
    account_bucket,
    as_rated,
    as_rejects,
    conform,
    scan_rated,
    scan_rejects,
    scan_stored,
    write_piece,
)
from cdr_rating.store.files import (
    file_sha256,
    files_sha256,
    sync_directories,
    write_atomically,
    write_bytes,
    write_frame,
    write_json,
    write_partition,
)
from cdr_rating.store.index import call_hash, call_index_hits, write_call_index
from cdr_rating.store.journal import Journal, clear_journal, journals, write_journal
from cdr_rating.store.layout import (
    INDEX_SCHEME,
    KINDS,
    LEDGER_FILE,
    SPILL_PREFIX,
    DataDir,
    Kind,
    remove_orphans,
)
from cdr_rating.store.lock import LOCK_FILE, RunLock

__all__ = [
    "INDEX_SCHEME",
    "KINDS",
    "LEDGER_FILE",
    "LOCK_FILE",
    "MONEY",
    "RATED",
    "REJECTS",
    "RERATE_FIELDS",
    "SPILL_PREFIX",
    "DataDir",
    "Journal",
    "Kind",
    "Piece",
    "RunLock",
    "account_bucket",
    "as_rated",
    "as_rejects",
    "call_hash",
    "call_index_hits",
    "clear_journal",
    "conform",
    "file_sha256",
    "files_sha256",
    "journals",
    "remove_orphans",
    "scan_rated",
    "scan_rejects",
    "scan_stored",
    "sync_directories",
    "write_atomically",
    "write_bytes",
    "write_call_index",
    "write_frame",
    "write_journal",
    "write_json",
    "write_partition",
    "write_piece",
]
