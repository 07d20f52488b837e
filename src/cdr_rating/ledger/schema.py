"""The ledger's schema and its numbered migrations.

The ledger: an SQLite database (WAL) that is the source of truth of the data directory.

It records what has been ingested (by content hash), which Parquet files hold it, each
run, the billing periods and whether they are closed, and, for invoicing, invoices,
their lines, credit and debit notes and number sequences. Every change is one
transaction: a run's files, partitions, totals and run row commit together or not at
all.

Tables (schema version 1; amounts are exact decimal text, times ISO 8601 UTC)::

    schema_version  version                          one row: the schema in this file
    runs            run_id PK, started_at, finished_at, status (ok | failed),
                    exit_status, files_new, files_skipped, read, rated, rejected,
                    duplicates, manifest (path in data_dir), error
    ingested_files  sha256 PK, path (in the inbox, as first seen), size, mtime_ns,
                    run_id -> runs, rows, rated, rejected, ingested_at
    partition_files path PK (in data_dir), sha256 -> ingested_files, kind (rated |
                    rejects), period (YYYY-MM | unknown), rows
    file_totals     (sha256, period, currency) PK, calls, billable_s, charge
    periods         period PK, status (open | closed), closed_at, closed_by -> runs
    sequences       name PK (e.g. INV-2026), last_value: gap-free numbering
    invoices        invoice_id PK, number (unique; null while a draft), kind (invoice |
                    credit_note | debit_note), account, period, status (draft | final |
                    void), currency, subtotal, tax, total, issued_on, due_on, pdf,
                    created_at
    invoice_lines   (invoice_id, line_no) PK, kind, description, quantity, unit, amount,
                    tax_rate
    notes           invoice_id PK -> invoices (the note), corrects -> invoices (the
                    original invoice), reason

Version 2 adds to ``invoices``: document (JSON of what it shows), calls (Parquet of its
itemised calls, in data_dir), html, finalised_at, voided_at, void_reason, sheets (JSON:
sheet files and sha256 it was billed with); to ``invoice_lines``: detail, calls,
seconds; and the table ``rerates`` (rerate_id PK, period, account, reason, applied_at,
sheets_before, sheets_after (JSON: paths and sha256), calls_changed, manifest).

Version 3 adds ``schema_migrations`` (version PK, applied_at: each migration applied
from version 3 on) and indexes on ``notes (corrects)`` and ``invoices (kind, status,
period)``.

Version 4 adds the sha256 of every stored file, so that a file is verified before
anything is billed, closed, re-rated or explained from it: to ``partition_files``:
checksum (of the Parquet file itself; ``sha256`` is the input file's) and
index_checksum (of its call index file, rated files only); to ``invoices``:
calls_checksum (its itemised-call file), html_checksum and pdf_checksum. Null means not
recorded yet: files written before version 4 get theirs on their first read
(``jobs.verify``).
"""

from __future__ import annotations

SCHEMA_VERSION = 4
# Migrations to this version and later are logged in ``schema_migrations``.
MIGRATIONS_LOGGED_FROM = 3

_SCHEMA_V1 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);

CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY,
    started_at    TEXT NOT NULL,
    finished_at   TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    exit_status   INTEGER NOT NULL,
    files_new     INTEGER NOT NULL,
    files_skipped INTEGER NOT NULL,
    read          INTEGER NOT NULL,
    rated         INTEGER NOT NULL,
    rejected      INTEGER NOT NULL,
    duplicates    INTEGER NOT NULL,
    manifest      TEXT NOT NULL,
    error         TEXT
);

CREATE TABLE ingested_files (
    sha256      TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    run_id      TEXT NOT NULL REFERENCES runs (run_id),
    rows        INTEGER NOT NULL,
    rated       INTEGER NOT NULL,
    rejected    INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);

CREATE TABLE partition_files (
    path   TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL REFERENCES ingested_files (sha256),
    kind   TEXT NOT NULL CHECK (kind IN ('rated', 'rejects')),
    period TEXT NOT NULL,
    rows   INTEGER NOT NULL
);
CREATE INDEX partition_files_by_period ON partition_files (kind, period);

CREATE TABLE file_totals (
    sha256     TEXT NOT NULL REFERENCES ingested_files (sha256),
    period     TEXT NOT NULL,
    currency   TEXT NOT NULL,
    calls      INTEGER NOT NULL,
    billable_s INTEGER NOT NULL,
    charge     TEXT NOT NULL,
    PRIMARY KEY (sha256, period, currency)
);

CREATE TABLE periods (
    period    TEXT PRIMARY KEY,
    status    TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    closed_at TEXT,
    closed_by TEXT REFERENCES runs (run_id)
);

CREATE TABLE sequences (
    name       TEXT PRIMARY KEY,
    last_value INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE invoices (
    invoice_id INTEGER PRIMARY KEY,
    number     TEXT UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ('invoice', 'credit_note', 'debit_note')),
    account    TEXT NOT NULL,
    period     TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('draft', 'final', 'void')),
    currency   TEXT NOT NULL,
    subtotal   TEXT NOT NULL,
    tax        TEXT NOT NULL,
    total      TEXT NOT NULL,
    issued_on  TEXT,
    due_on     TEXT,
    pdf        TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE invoice_lines (
    invoice_id  INTEGER NOT NULL REFERENCES invoices (invoice_id),
    line_no     INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    description TEXT NOT NULL,
    quantity    TEXT,
    unit        TEXT,
    amount      TEXT NOT NULL,
    tax_rate    TEXT,
    PRIMARY KEY (invoice_id, line_no)
);

CREATE TABLE notes (
    invoice_id INTEGER PRIMARY KEY REFERENCES invoices (invoice_id),
    corrects   INTEGER NOT NULL REFERENCES invoices (invoice_id),
    reason     TEXT NOT NULL
);
"""

# Version 2: what invoicing needs to reproduce and audit an invoice.
_SCHEMA_V2 = """
ALTER TABLE invoices ADD COLUMN document TEXT;
ALTER TABLE invoices ADD COLUMN calls TEXT;
ALTER TABLE invoices ADD COLUMN html TEXT;
ALTER TABLE invoices ADD COLUMN finalised_at TEXT;
ALTER TABLE invoices ADD COLUMN voided_at TEXT;
ALTER TABLE invoices ADD COLUMN void_reason TEXT;
ALTER TABLE invoices ADD COLUMN sheets TEXT;
ALTER TABLE invoice_lines ADD COLUMN detail TEXT NOT NULL DEFAULT '';
ALTER TABLE invoice_lines ADD COLUMN calls INTEGER;
ALTER TABLE invoice_lines ADD COLUMN seconds INTEGER;
CREATE INDEX invoices_by_period ON invoices (period, account, status);

CREATE TABLE rerates (
    rerate_id     TEXT PRIMARY KEY,
    period        TEXT NOT NULL,
    account       TEXT,
    reason        TEXT NOT NULL,
    applied_at    TEXT NOT NULL,
    sheets_before TEXT NOT NULL,
    sheets_after  TEXT NOT NULL,
    calls_changed INTEGER NOT NULL,
    manifest      TEXT NOT NULL
);
"""

# Version 3: a history of the migrations applied (when a ledger was upgraded, and
# from which version), and indexes for the lookups of notes and of invoices by state.
_SCHEMA_V3 = """
CREATE TABLE schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
);
CREATE INDEX notes_by_original ON notes (corrects);
CREATE INDEX invoices_by_state ON invoices (kind, status, period);
"""

# Version 4: the sha256 of each stored file beside the row that refers to it, so that
# the checksum comes and goes with the file's record in one transaction.
_SCHEMA_V4 = """
ALTER TABLE partition_files ADD COLUMN checksum TEXT;
ALTER TABLE partition_files ADD COLUMN index_checksum TEXT;
ALTER TABLE invoices ADD COLUMN calls_checksum TEXT;
ALTER TABLE invoices ADD COLUMN html_checksum TEXT;
ALTER TABLE invoices ADD COLUMN pdf_checksum TEXT;
"""

# Migration k (0-based) brings a database from version k to version k + 1.
MIGRATIONS: tuple[str, ...] = (_SCHEMA_V1, _SCHEMA_V2, _SCHEMA_V3, _SCHEMA_V4)
