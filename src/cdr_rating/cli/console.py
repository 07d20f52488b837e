"""Where output goes: data to stdout, everything else (logs, summaries) to stderr."""

import sys

from rich.console import Console

# Piped data is not cut to 80 columns: tables keep their natural width.
data_console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
error_console = Console(stderr=True, highlight=False, soft_wrap=True)
