"""Errors raised on the agency side (SDK and adapters)."""

from __future__ import annotations

from schemas.errors import EdocError


class ConnectorError(EdocError):
    """Base of the connectors' errors."""


class HubUnreachableError(ConnectorError):
    """The hub's Kafka bootstrap address does not answer."""

    def __init__(self, bootstrap: str, detail: str = "") -> None:
        msg = f"Kafka broker not reachable at {bootstrap}"
        super().__init__(
            f"{msg} ({detail})" if detail else msg,
            hint="check EDOC_KAFKA_BOOTSTRAP, or start a broker: `edoc local kafka start`",
        )
        self.bootstrap = bootstrap
