"""`python -m cli` runs the `cbdc` command (used to start node processes with this interpreter)."""

from cli.main import cli

cli()
