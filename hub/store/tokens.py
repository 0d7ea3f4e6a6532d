"""API tokens: random secrets shown once, stored only as SHA-256, each with one role.

Roles: ``operator``, ``auditor``, ``agency:<code>`` (an agency system, which
reaches only its own inbox and reports).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.errors import StoreError
from hub.store.schema import api_tokens

ROLE_RE = re.compile(r"^(operator|auditor|agency:\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2})$")
_PREFIX = "edoc_"
#: Token ids are a 32-bit column on PostgreSQL; a larger id names no token (and must not
#: reach the driver, which would raise instead of finding nothing).
MAX_TOKEN_ID = 2**31 - 1
#: Longest token name (the column's width).
MAX_NAME = 128


@dataclass(frozen=True)
class TokenInfo:
    """Who a token belongs to."""

    id: int
    role: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


def _digest(token: str) -> str:
    # surrogatepass: a token with lone surrogates (undecodable input) hashes instead of raising
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_role(role: str) -> str:
    """Return ``role`` if valid, else raise ``StoreError``."""
    if not ROLE_RE.fullmatch(role):
        raise StoreError(
            f"invalid role {role!r}",
            hint="use operator, auditor or agency:<code> (e.g. agency:000.00.01.H49)",
        )
    return role


async def create_token(engine: AsyncEngine, role: str, name: str) -> tuple[str, TokenInfo]:
    """A new token for ``role``; the plaintext is returned once and never stored."""
    check_role(role)
    if len(name) > MAX_NAME or not name.isprintable():
        raise StoreError(
            f"invalid token name {name[:40]!r}",
            hint=f"name who holds it in at most {MAX_NAME} printable characters",
        )
    token = _PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(api_tokens).values(
                token_sha256=_digest(token), role=role, name=name, created_at=now
            )
        )
        token_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return token, TokenInfo(token_id, role, name, now, None)


async def authenticate(engine: AsyncEngine, token: str) -> TokenInfo | None:
    """The active token matching ``token``, or None."""
    if not token.startswith(_PREFIX):
        return None
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(api_tokens).where(api_tokens.c.token_sha256 == _digest(token))
            )
        ).first()
    if row is None or row.revoked_at is not None:
        return None
    return TokenInfo(row.id, row.role, row.name, row.created_at, row.revoked_at)


async def revoke_token(engine: AsyncEngine, token_id: int) -> bool:
    """Revoke by id; False when no active token has that id."""
    if not 0 < token_id <= MAX_TOKEN_ID:
        return False
    async with engine.begin() as conn:
        result = await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return result.rowcount > 0


async def list_tokens(engine: AsyncEngine) -> list[TokenInfo]:
    """All tokens, revoked ones included."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(api_tokens).order_by(api_tokens.c.id))
        return [TokenInfo(r.id, r.role, r.name, r.created_at, r.revoked_at) for r in rows]


async def active_token(engine: AsyncEngine, token_id: int) -> TokenInfo | None:
    """The token with ``token_id`` if it exists and is not revoked (console sessions use this)."""
    if not 0 < token_id <= MAX_TOKEN_ID:
        return None
    async with engine.connect() as conn:
        row = (await conn.execute(select(api_tokens).where(api_tokens.c.id == token_id))).first()
    if row is None or row.revoked_at is not None:
        return None
    return TokenInfo(row.id, row.role, row.name, row.created_at, row.revoked_at)
