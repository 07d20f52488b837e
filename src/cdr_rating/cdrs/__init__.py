"""CDR inputs: format readers, number normalisation, parsing and rejects."""

from cdr_rating.cdrs.inputs import FORMATS, read_inputs
from cdr_rating.cdrs.numbers import NumberRules
from cdr_rating.cdrs.parse import (
    InputOptions,
    mark_duplicates,
    parsed_calls,
    prepare_calls,
)
from cdr_rating.cdrs.schema import CALL_SCHEMA, REJECT_SCHEMA, Reason

__all__ = [
    "CALL_SCHEMA",
    "FORMATS",
    "REJECT_SCHEMA",
    "InputOptions",
    "NumberRules",
    "Reason",
    "mark_duplicates",
    "parsed_calls",
    "prepare_calls",
    "read_inputs",
]
