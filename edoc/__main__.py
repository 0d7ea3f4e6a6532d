"""``python -m edoc`` runs the CLI."""

from edoc.cli import main

main()
