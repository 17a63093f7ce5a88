"""`python -m graphmem ...` runs the CLI without installing the package."""

from graphmem.cli import run

run()
