"""Provisioning Kafka access: SCRAM users and ACLs for hub services and agencies.

``Provisioner`` converges the cluster on ``hub.kafka.security.acl``: for every principal it
describes the ACLs the broker holds, deletes those the model no longer grants and
creates the missing ones, so running it twice changes nothing. A principal gets a
SCRAM credential only when it has none (or on rotation); the generated password is
returned once, in an ``IssuedCredential``, for the caller to hand over — it is
never logged, and its ``repr`` hides it. An inactive agency loses its ACLs and its
credential.

Run as the super-user (``edoc-admin``); ``edoc kafka provision`` and ``edoc
directory import --provision`` are the command-line faces (docs/kafka-security.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.errors import KafkaConnectionError, KafkaError

from hub.errors import BrokerUnavailableError, HubError
from hub.kafka.client import TopicAdmin, client_config
from hub.kafka.security import acl as kafka_acl
from hub.kafka.security.acl import AclBinding
from hub.kafka.security.admin import SecurityAdmin
from hub.settings import Settings
from schemas import wire
from schemas.directory import Agency

log = logging.getLogger(__name__)


def new_password() -> str:
    """A random SCRAM password: 32 bytes, URL-safe base64 (no quoting needed anywhere)."""
    return secrets.token_urlsafe(32)


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (0600), replacing it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)  # an older tmp file may have had other bits
    tmp.replace(path)


@dataclass(frozen=True)
class IssuedCredential:
    """A new SCRAM credential, to be handed to its holder once."""

    user: str
    password: str = field(repr=False)
    agency: str | None = None

    def env(self, settings: Settings) -> str:
        """The ``EDOC_KAFKA_*`` lines its holder puts in its environment."""
        return (
            f"EDOC_KAFKA_BOOTSTRAP={settings.kafka_bootstrap}\n"
            f"EDOC_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}\n"
            f"EDOC_KAFKA_SASL_MECHANISM={settings.kafka_sasl_mechanism}\n"
            f"EDOC_KAFKA_USERNAME={self.user}\n"
            f"EDOC_KAFKA_PASSWORD={self.password}\n"
        )


@dataclass
class ProvisionReport:
    """What one provisioning run changed."""

    issued: list[IssuedCredential] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # users whose credential was left alone
    revoked: list[str] = field(default_factory=list)  # users whose access was removed
    acls_added: int = 0
    acls_removed: int = 0

    def merge(self, other: ProvisionReport) -> None:
        """Add ``other``'s changes to this report."""
        self.issued += other.issued
        self.kept += other.kept
        self.revoked += other.revoked
        self.acls_added += other.acls_added
        self.acls_removed += other.acls_removed


class Provisioner:
    """Converges users and ACLs on the model in ``hub.kafka.security.acl``."""

    def __init__(self, settings: Settings, admin: SecurityAdmin) -> None:
        self.settings = settings
        self.admin = admin
        self.mechanism = settings.kafka_sasl_mechanism

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, settings: Settings) -> AsyncIterator[Provisioner]:
        """A provisioner with a connected admin client (closed when the block ends)."""
        admin = SecurityAdmin(**client_config(settings), request_timeout_ms=15_000)
        try:
            await admin.start()
        except (KafkaConnectionError, KafkaError) as exc:
            await admin.close()
            raise BrokerUnavailableError(settings.kafka_bootstrap, str(exc)) from None
        try:
            yield cls(settings, admin)
        finally:
            await admin.close()

    async def ensure_topics(self, agencies: Iterable[Agency]) -> None:
        """Create the hub's topics and the inboxes of active agencies (services may not)."""
        topic_admin = TopicAdmin(self.settings)
        await topic_admin.start()
        try:
            await topic_admin.ensure_inboxes(a.code for a in agencies if a.active)
        finally:
            await topic_admin.close()

    async def sync_acls(self, principal: str, wanted: list[AclBinding]) -> tuple[int, int]:
        """Make ``principal``'s ACLs exactly ``wanted``; returns (added, removed)."""
        have = set(await self.admin.describe_acls(principal))
        want = set(wanted)
        extra = sorted(have - want)
        for binding in extra:
            await self.admin.delete_acl(binding)
        missing = sorted(want - have)
        await self.admin.create_acls(missing)
        return len(missing), len(extra)

    async def _ensure_user(
        self, user: str, rotate: bool, agency: str | None, report: ProvisionReport
    ) -> None:
        existing = await self.admin.describe_scram([user])
        if user in existing and self.mechanism in existing[user].mechanisms and not rotate:
            report.kept.append(user)
            return
        password = new_password()
        await self.admin.upsert_scram([(user, password)], self.mechanism)
        report.issued.append(IssuedCredential(user, password, agency))
        log.info("SCRAM credential %s for %s", "rotated" if user in existing else "created", user)

    async def provision_services(
        self, services: Iterable[str] = kafka_acl.HUB_SERVICES, *, rotate: bool = False
    ) -> ProvisionReport:
        """Users and least-privilege ACLs of hub services (``hub`` = all-in-one)."""
        report = ProvisionReport()
        for service in services:
            user = kafka_acl.service_user(service)
            added, removed = await self.sync_acls(
                kafka_acl.user(user), kafka_acl.service_acls(self.settings, service)
            )
            report.acls_added += added
            report.acls_removed += removed
            await self._ensure_user(user, rotate, None, report)
        return report

    async def provision_agencies(
        self, agencies: Iterable[Agency], *, rotate: bool = False
    ) -> ProvisionReport:
        """Active agencies get their user and ACLs; inactive ones lose both."""
        report = ProvisionReport()
        for agency in agencies:
            if agency.code == self.settings.hub_code:
                continue  # the hub itself never talks to Kafka as an agency
            user = wire.agency_user(agency.code)
            if not agency.active:
                report.merge(await self.revoke(user))
                continue
            added, removed = await self.sync_acls(
                kafka_acl.user(user), kafka_acl.agency_acls(agency.code)
            )
            report.acls_added += added
            report.acls_removed += removed
            await self._ensure_user(user, rotate, agency.code, report)
        return report

    async def revoke(self, user: str) -> ProvisionReport:
        """Remove every ACL and the SCRAM credential of ``user``."""
        if user == kafka_acl.ADMIN_USER:
            raise HubError(
                "refusing to revoke the super-user", hint="the broker needs it to provision"
            )
        report = ProvisionReport()
        report.acls_removed = await self.admin.delete_acls_of(kafka_acl.user(user))
        deleted = await self.admin.delete_scram([user], self.mechanism)
        if deleted or report.acls_removed:
            report.revoked.append(user)
            log.info("access of %s revoked (%d ACLs)", user, report.acls_removed)
        return report
