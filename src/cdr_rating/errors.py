"""Every error cdr-rating raises on purpose, and the exit code each one maps to.

The tree::

    CdrRatingError                      root: anything the user can act on
    ├── UsageError          exit 2      a bad option, value or combination of options
    │   ├── ConfigError     exit 2      an invalid configuration, accounts or fees file
    │   │   └── SheetError  exit 2      an invalid rate sheet
    │   └── RenderError     exit 2      an invoice template that fails, or a refused URL
    ├── InputError          exit 3      a CDR file that is missing or unreadable as a whole
    │   └── StoredFileError exit 3      a file of the data directory that is missing or
    │                                   differs from what the ledger recorded
    ├── LedgerError         exit 1      (``cdr_rating.ledger``) the ledger cannot be written
    │   └── LedgerUnavailableError      exit 3: it is missing, empty or unreadable
    ├── WriteError          exit 1      a file that cannot be written (a full disk, no
    │                                   permission); also an OSError
    └── LockHeldError       exit 75     another run holds the data directory's lock

Rows that cannot be rated are not errors: they become reject rows with a reason code.
Messages are one line each, name the file (and line and column where there is one) and
say what to do about it.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The process exit codes of the ``cdr-rating`` command (a contract)."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    INPUT = 3
    REJECTS = 4
    LOCKED = 75


class CdrRatingError(Exception):
    """Root of every error raised on purpose by cdr-rating."""

    exit_code: ExitCode = ExitCode.UNEXPECTED


class UsageError(CdrRatingError):
    """A bad option, option value or combination of options."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """An invalid configuration, accounts or fees file; ``problems`` lists every finding."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else problems
        more = f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        super().__init__(self.problems[0] + more)


class SheetError(ConfigError):
    """A rate sheet failed validation; ``problems`` lists every finding, one line each."""


class RenderError(UsageError):
    """An invoice could not be rendered: a template error, a refused URL, a failed write.

    Templates are configuration (``[paths] templates``), so this is exit 2 like any
    other configuration error. The message names the invoice, and the file where there
    is one.
    """


class InputError(CdrRatingError):
    """A CDR input that is missing or cannot be read at all."""

    exit_code = ExitCode.INPUT


class StoredFileError(InputError):
    """A file of the data directory is missing, or its content differs from the sha256
    (or the totals) the ledger recorded when it was written."""


class WriteError(CdrRatingError, OSError):
    """A file could not be written: a full disk, no permission, a read-only mount.

    Also an ``OSError``, so that code that turns a failed output (``--out``) into a
    usage error still does; anywhere else it is one line naming the file, exit 1.
    """

    def __init__(self, path: object, cause: OSError) -> None:
        reason = cause.strerror or str(cause)
        super().__init__(cause.errno, reason, str(path))
        self.message = (
            f"{path}: cannot write it: {reason}; free space (or fix permissions) and run "
            "again: nothing half-written is kept"
        )

    def __str__(self) -> str:
        return self.message


class LockHeldError(CdrRatingError):
    """Another run holds the lock of the data directory."""

    exit_code = ExitCode.LOCKED
