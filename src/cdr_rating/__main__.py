"""``python -m cdr_rating`` runs the command line."""

from cdr_rating.cli import main

main()
