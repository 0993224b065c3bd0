"""`python -m vitals` is the `vitals` command."""

from vitals.cli import main

main()
