"""The secure mode of the local broker: SASL_PLAINTEXT + SCRAM-SHA-512 + StandardAuthorizer.

``LocalKafka(secure=True)`` appends ``deploy/kafka/secure.properties.template`` to
its configuration and formats the storage with the super-user's SCRAM credential
(StorageTool ``--add-scram``): nobody could authenticate to create that first
user later. The super-user (``edoc-admin``) password is made once and kept next
to the broker's state, readable by the owner only::

    admin.password   the password (0600)
    admin.env        EDOC_KAFKA_* lines for the hub admin (0600): `set -a; . admin.env`
    admin-client.properties  the same login for Kafka's own tools (--command-config, 0600)
    security.mode    "sasl" once the storage was formatted with the super-user

Everything else (services, agencies) is provisioned at run time by
``hub.kafka.security.provision`` through the super-user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.errors import KafkaLauncherError
from hub.kafka.security.acl import ADMIN_USER
from hub.kafka.security.provision import new_password, write_private_file

SECURE_TEMPLATE = "secure.properties.template"
MODE_FILE = "security.mode"
MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class BrokerAdmin:
    """The local broker's super-user: how a client reaches the secure broker as it."""

    bootstrap: str
    user: str = ADMIN_USER
    password: str = field(default="", repr=False)

    def client_config(self) -> dict[str, Any]:
        """aiokafka keyword arguments (same shape as ``hub.kafka.client.client_config``)."""
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": self.user,
            "sasl_plain_password": self.password,
        }

    def env(self) -> dict[str, str]:
        """``EDOC_KAFKA_*`` variables that make the hub's tools act as the super-user."""
        return {
            "EDOC_KAFKA_BOOTSTRAP": self.bootstrap,
            "EDOC_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "EDOC_KAFKA_SASL_MECHANISM": MECHANISM,
            "EDOC_KAFKA_USERNAME": self.user,
            "EDOC_KAFKA_PASSWORD": self.password,
        }


def admin_password(root: Path) -> str:
    """The super-user's password for the broker under ``root``, made on first use."""
    path = root / "admin.password"
    root.mkdir(parents=True, exist_ok=True)
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    except OSError as exc:
        raise KafkaLauncherError(f"cannot read {path}: {exc.strerror}") from None
    if existing:
        return existing
    password = new_password()
    write_private_file(path, password + "\n")
    return password


def write_admin_env(root: Path, admin: BrokerAdmin) -> Path:
    """Write ``admin.env`` (0600) for ``set -a; . admin.env; set +a``; returns its path."""
    path = root / "admin.env"
    write_private_file(path, "".join(f"{k}={v}\n" for k, v in admin.env().items()))
    return path


def render_overlay(deploy_dir: Path, *, port: int, controller_port: int, password: str) -> str:
    """The security overlay appended to server.properties."""
    template = deploy_dir / SECURE_TEMPLATE
    try:
        text = template.read_text()
    except OSError as exc:
        raise KafkaLauncherError(f"cannot read {template}: {exc.strerror}") from None
    try:
        return text.format(
            port=port, controller_port=controller_port, admin_user=ADMIN_USER,
            admin_password=password,
        )  # fmt: skip
    except (KeyError, IndexError, ValueError) as exc:
        raise KafkaLauncherError(
            f"{template} has a bad placeholder ({exc!r})",
            hint="placeholders are port, controller_port, admin_user, admin_password",
        ) from None


def scram_format_args(password: str) -> list[str]:
    """StorageTool arguments that create the super-user's credential at format time."""
    return ["--add-scram", f"{MECHANISM}=[name={ADMIN_USER},password={password}]"]


def check_mode(root: Path, data_dir: Path, secure: bool) -> None:
    """Refuse to start securely on storage formatted without the super-user."""
    formatted = (data_dir / "meta.properties").is_file()
    mode = root / MODE_FILE
    was_secure = mode.is_file() and mode.read_text().strip() == "sasl"
    if secure and formatted and not was_secure:
        raise KafkaLauncherError(
            f"the broker's storage in {data_dir} was formatted without SASL, so it has no "
            "super-user to log in with",
            hint=f"stop the broker and delete {data_dir} (its topics go with it), or use another "
            "EDOC_VAR_DIR for the secure broker",
        )


def mark_secure(root: Path) -> None:
    """Remember that the storage holds the super-user's credential."""
    (root / MODE_FILE).write_text("sasl\n")


def write_admin_client_properties(root: Path, admin: BrokerAdmin) -> Path:
    """Write the super-user's login for Kafka's Java tools (``--command-config``, 0600)."""
    path = root / "admin-client.properties"
    write_private_file(
        path,
        "security.protocol=SASL_PLAINTEXT\n"
        f"sasl.mechanism={MECHANISM}\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{admin.user}" password="{admin.password}";\n',
    )
    return path
