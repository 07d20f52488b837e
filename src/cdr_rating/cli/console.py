"""Where output goes: data to stdout, everything else (logs, summaries) to stderr."""

from rich.console import Console

data_console = Console(highlight=False, soft_wrap=True)
error_console = Console(stderr=True, highlight=False, soft_wrap=True)
