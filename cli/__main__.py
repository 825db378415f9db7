"""`python -m cli` runs the `cbdc` command (used to start node processes with this interpreter)."""

from cli.main import cli

if __name__ == "__main__":  # not when a multiprocessing worker imports this module
    cli()
