"""The ``edoc`` command line: the composition root over hub and connectors."""
