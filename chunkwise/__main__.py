"""``python -m chunkwise``: the ``chunkwise`` command."""

from chunkwise.flows.cli import main

main()
