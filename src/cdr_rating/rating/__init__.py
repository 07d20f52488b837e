"""The rating stage: compile sheets into a plan, then price calls against it."""

from cdr_rating.rating.engine import (
    RATED_COLUMNS,
    REJECT_COLUMNS,
    rate_calls,
    rate_outcome,
    split_outcome,
)
from cdr_rating.rating.plan import RatingPlan

__all__ = [
    "RATED_COLUMNS",
    "REJECT_COLUMNS",
    "RatingPlan",
    "rate_calls",
    "rate_outcome",
    "split_outcome",
]
