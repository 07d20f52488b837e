"""cdr-rating: exact, columnar rating and invoicing of call detail records."""

__version__ = "0.1.0"
