"""`python -m agent` runs the `opslens` CLI."""

from agent.cli import entrypoint

entrypoint()
