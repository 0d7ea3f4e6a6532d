"""Connector credentials from the hub's settings: the composition root joins the two sides.

Connectors never import ``hub`` (layering), so their Kafka security options come in
through ``connectors.sdk.KafkaAuth``; the ``edoc`` commands that run a connector
build it here from the same ``EDOC_KAFKA_*`` settings the hub's services use.
"""

from __future__ import annotations

from connectors.sdk import KafkaAuth
from hub.settings import Settings, get_settings


def connector_auth(settings: Settings | None = None) -> KafkaAuth:
    """The ``KafkaAuth`` of ``EDOC_KAFKA_SECURITY_PROTOCOL``, ``…_USERNAME``, ``…_PASSWORD``."""
    s = settings or get_settings()
    return KafkaAuth(
        security_protocol=s.kafka_security_protocol,
        sasl_mechanism=s.kafka_sasl_mechanism,
        username=s.kafka_username,
        password=s.kafka_password.get_secret_value() if s.kafka_password else None,
        ssl_cafile=s.kafka_ssl_cafile,
    )
