"""The services a hub process runs (``edoc serve --only``), and what each is doing."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Services ``edoc serve --only`` accepts, in start order.
SERVICES = ("router", "audit", "coverage", "lifecycle", "api")
#: Services that keep state in the database.
DATABASE_SERVICES = frozenset({"audit", "coverage", "lifecycle"})


@dataclass
class ServiceStates:
    """What each service of an ``edoc serve`` process is doing, for ``/readyz``.

    ``"starting"`` until its start returns, ``"running"`` then, and
    ``"restarting: <error>"`` after it failed, until it runs again.
    """

    states: dict[str, str] = field(default_factory=dict)

    def starting(self, name: str) -> None:
        """``name`` is being started (first time or again)."""
        self.states.setdefault(name, "starting")

    def running(self, name: str) -> None:
        """``name`` started and is running."""
        self.states[name] = "running"

    def failed(self, name: str, error: str) -> None:
        """``name`` failed with ``error`` and will be restarted."""
        self.states[name] = f"restarting: {error}"

    def has_run(self, name: str) -> bool:
        """True once ``name`` has started at least once (it is then restarted on failure)."""
        return self.states.get(name, "starting") != "starting"

    def unready(self) -> dict[str, str]:
        """The services not running now, with what they are doing."""
        return {n: s for n, s in sorted(self.states.items()) if s != "running"}
