"""The hub's event fixtures, for the operations guide's procedures run as tests."""

from tests.hub.conftest import hub_key, make_events

__all__ = ["hub_key", "make_events"]
