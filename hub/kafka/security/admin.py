"""Kafka security administration over the wire: ACLs and SCRAM credentials.

aiokafka's admin client has no ACL or SCRAM methods, but it ships the request
structures for ACLs (``CreateAcls``/``DescribeAcls``/``DeleteAcls`` v1) and the
machinery for flexible versions, so ``SecurityAdmin`` adds the few calls the hub
needs, with ``AlterUserScramCredentials`` and ``DescribeUserScramCredentials``
(API keys 51 and 50, version 0) defined here. Doing it in Python rather than
with Kafka's Java tools means provisioning works from any hub container, against
any cluster, without a JVM.

A SCRAM credential is sent as salt + salted password (RFC 5802 ``Hi()``: PBKDF2
with the mechanism's hash), never as the password itself.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from hub.errors import HubError
from hub.kafka.security.acl import AclBinding, Operation, PatternType, Permission, ResourceType

#: Kafka's ``ScramMechanism`` codes and the hash each uses.
SCRAM_MECHANISMS = {"SCRAM-SHA-256": (1, "sha256"), "SCRAM-SHA-512": (2, "sha512")}
#: Kafka refuses fewer than 4096 iterations; more makes every login slower.
SCRAM_ITERATIONS = 8192
_RESOURCE_NOT_FOUND = 91  # Kafka error code: no such SCRAM credential


class KafkaSecurityError(HubError):
    """The broker refused or failed an ACL or credential change."""


# -- AlterUserScramCredentials / DescribeUserScramCredentials (flexible v0) ---------------


class AlterUserScramCredentialsResponse_v0(Response):  # type: ignore[misc]  # aiokafka is untyped
    """Per-user results of an upsert or deletion."""

    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):  # type: ignore[misc]  # aiokafka is untyped
    """Deletions (user, mechanism) and upsertions (user, mechanism, iterations, salt, hash)."""

    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(
                ("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields)
            ),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest(Request[AlterUserScramCredentialsRequest_v0]):  # type: ignore[misc]  # aiokafka is untyped
    """Builder negotiated per connection (only v0 exists)."""

    API_KEY = 51

    def __init__(self, deletions: list[Any], upsertions: list[Any]) -> None:
        self._deletions = deletions
        self._upsertions = upsertions

    def build(
        self, request_struct_class: type[AlterUserScramCredentialsRequest_v0]
    ) -> AlterUserScramCredentialsRequest_v0:
        """The v0 structure."""
        return request_struct_class(self._deletions, self._upsertions, {})


class DescribeUserScramCredentialsResponse_v0(Response):  # type: ignore[misc]  # aiokafka is untyped
    """Per-user mechanisms and iteration counts (never the secrets)."""

    API_KEY = 50
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", CompactString("utf-8")),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                (
                    "credential_infos",
                    CompactArray(
                        ("mechanism", Int8), ("iterations", Int32), ("tags", TaggedFields)
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class DescribeUserScramCredentialsRequest_v0(RequestStruct):  # type: ignore[misc]  # aiokafka is untyped
    """Users to describe (null: all)."""

    FLEXIBLE_VERSION = True
    API_KEY = 50
    API_VERSION = 0
    RESPONSE_TYPE = DescribeUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("users", CompactArray(("name", CompactString("utf-8")), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class DescribeUserScramCredentialsRequest(Request[DescribeUserScramCredentialsRequest_v0]):  # type: ignore[misc]  # aiokafka is untyped
    """Builder negotiated per connection (only v0 exists)."""

    API_KEY = 50

    def __init__(self, users: list[str] | None) -> None:
        self._users = users

    def build(
        self, request_struct_class: type[DescribeUserScramCredentialsRequest_v0]
    ) -> DescribeUserScramCredentialsRequest_v0:
        """The v0 structure."""
        users: list[tuple[str, dict[int, bytes]]] | None = (
            None if self._users is None else [(u, {}) for u in self._users]
        )
        return request_struct_class(users, {})


# -- ACL requests: aiokafka's v1 structures, several bindings per request ---------------------


class _CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 30

    def __init__(self, creations: list[tuple[Any, ...]]) -> None:
        self._creations = creations

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(self._creations)


class _DeleteAcls(Request[DeleteAclsRequest_v1]):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 31

    def __init__(self, filters: list[tuple[Any, ...]]) -> None:
        self._filters = filters

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class(self._filters)


class _DescribeAcls(Request[DescribeAclsRequest_v1]):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 29

    def __init__(self, principal: str | None) -> None:
        self._principal = principal

    def build(self, request_struct_class: type[DescribeAclsRequest_v1]) -> DescribeAclsRequest_v1:
        # Filter: any resource, any pattern, this principal (or any), any host/op/permission.
        return request_struct_class(
            ResourceType.ANY, None, PatternType.ANY, self._principal, None,
            Operation.ANY, Permission.ANY,
        )  # fmt: skip


def _binding_tuple(b: AclBinding) -> tuple[Any, ...]:
    return (
        int(b.resource_type), b.name, int(b.pattern), b.principal, b.host,
        int(b.operation), int(b.permission),
    )  # fmt: skip


def salted_password(password: str, salt: bytes, iterations: int, mechanism: str) -> bytes:
    """RFC 5802 ``SaltedPassword := Hi(Normalize(password), salt, i)`` for ``mechanism``."""
    _, digest = SCRAM_MECHANISMS[mechanism]
    return hashlib.pbkdf2_hmac(digest, password.encode("utf-8"), salt, iterations)


@dataclass(frozen=True)
class ScramInfo:
    """What the broker says about one user's SCRAM credentials."""

    user: str
    mechanisms: tuple[str, ...]


class SecurityAdmin(AIOKafkaAdminClient):  # type: ignore[misc]  # aiokafka is untyped
    """An admin client that can also manage ACLs and SCRAM credentials (super-user needed)."""

    async def _call(self, request: Request[Any]) -> Any:
        try:
            return await self._send_request(request)
        except KafkaError as exc:
            raise KafkaSecurityError(
                f"Kafka refused the request: {type(exc).__name__}: {exc}",
                hint="provisioning needs the super-user (EDOC_KAFKA_USERNAME=edoc-admin) on a "
                "broker with an authorizer and SCRAM enabled",
            ) from None

    @staticmethod
    def _check(code: int, message: str | None, what: str) -> None:
        if code:
            name = for_code(code).__name__
            raise KafkaSecurityError(
                f"{what}: {name}{f' ({message})' if message else ''}",
                hint="check that the broker runs an authorizer (StandardAuthorizer) and that "
                "this client is a super-user",
            )

    async def create_acls(self, bindings: Sequence[AclBinding]) -> None:
        """Add allow rules; a rule that already exists is left as it is."""
        if not bindings:
            return
        response = await self._call(_CreateAcls([_binding_tuple(b) for b in bindings]))
        for binding, (code, message) in zip(bindings, response.creation_responses, strict=True):
            self._check(code, message, f"creating ACL {binding.describe()}")

    async def delete_acl(self, binding: AclBinding) -> None:
        """Remove exactly this rule (nothing else matches an exact filter)."""
        response = await self._call(_DeleteAcls([_binding_tuple(binding)]))
        for code, message, _matching in response.filter_responses:
            self._check(code, message, f"deleting ACL {binding.describe()}")

    async def delete_acls_of(self, principal: str) -> int:
        """Remove every rule naming ``principal``; returns how many went."""
        filters = [
            (
                ResourceType.ANY,
                None,
                PatternType.ANY,
                principal,
                None,
                Operation.ANY,
                Permission.ANY,
            )
        ]
        response = await self._call(_DeleteAcls(filters))
        removed = 0
        for code, message, matching in response.filter_responses:
            self._check(code, message, f"deleting the ACLs of {principal}")
            removed += len(matching)
        return removed

    async def describe_acls(self, principal: str | None = None) -> list[AclBinding]:
        """Every rule (of ``principal``, when given) as bindings."""
        response = await self._call(_DescribeAcls(principal))
        self._check(response.error_code, response.error_message, "describing ACLs")
        out = []
        for rtype, rname, pattern, acls in response.resources:
            for who, host, op, perm in acls:
                out.append(
                    AclBinding(
                        who,
                        ResourceType(rtype),
                        PatternType(pattern),
                        rname,
                        Operation(op),
                        Permission(perm),
                        host,
                    )
                )
        return sorted(out)

    async def upsert_scram(
        self, users: Iterable[tuple[str, str]], mechanism: str = "SCRAM-SHA-512"
    ) -> None:
        """Create or replace the SCRAM credential of each ``(user, password)``."""
        code, _ = SCRAM_MECHANISMS[mechanism]
        upsertions: list[tuple[Any, ...]] = []
        for name, password in users:
            salt = secrets.token_bytes(32)
            hashed = salted_password(password, salt, SCRAM_ITERATIONS, mechanism)
            upsertions.append((name, code, SCRAM_ITERATIONS, salt, hashed, {}))
        if not upsertions:
            return
        response = await self._call(AlterUserScramCredentialsRequest([], upsertions))
        for user, err, message, _tags in response.results:
            self._check(err, message, f"setting the {mechanism} credential of {user}")

    async def delete_scram(self, users: Iterable[str], mechanism: str = "SCRAM-SHA-512") -> int:
        """Delete the credential of each user; returns how many existed."""
        code, _ = SCRAM_MECHANISMS[mechanism]
        deletions: list[tuple[Any, ...]] = [(name, code, {}) for name in users]
        if not deletions:
            return 0
        response = await self._call(AlterUserScramCredentialsRequest(deletions, []))
        deleted = 0
        for user, err, message, _tags in response.results:
            if err == _RESOURCE_NOT_FOUND:
                continue
            self._check(err, message, f"deleting the {mechanism} credential of {user}")
            deleted += 1
        return deleted

    async def describe_scram(self, users: list[str] | None = None) -> dict[str, ScramInfo]:
        """``{user: ScramInfo}`` of those ``users`` (all when None) that have a credential."""
        response = await self._call(DescribeUserScramCredentialsRequest(users))
        self._check(response.error_code, response.error_message, "describing SCRAM users")
        names = {code: name for name, (code, _) in SCRAM_MECHANISMS.items()}
        out = {}
        for user, err, message, infos, _tags in response.results:
            if err == _RESOURCE_NOT_FOUND:
                continue
            self._check(err, message, f"describing the SCRAM credential of {user}")
            mechs = tuple(sorted(names.get(m, str(m)) for m, _it, _t in infos))
            out[user] = ScramInfo(user, mechs)
        return out
