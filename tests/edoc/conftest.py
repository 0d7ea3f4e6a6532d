"""The hub's event fixtures, for CLI tests that need a filled signature log."""

from tests.hub.conftest import hub_key, make_events

__all__ = ["hub_key", "make_events"]
