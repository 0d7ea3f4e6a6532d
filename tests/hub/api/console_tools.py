"""A hub app with one token per role, and helpers to act as each role (bearer or console session).

Roles used throughout the console tests:

* ``none`` — no credentials at all;
* ``revoked`` — an operator token that was revoked;
* ``agency`` — ``agency:A``; ``other_agency`` — ``agency:B``;
* ``operator``, ``auditor``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI

from hub.api.session import COOKIE, Session, SessionCodec
from hub.runtime.app import create_app
from hub.settings import Settings
from hub.store.db import make_engine, migrate
from hub.store.tokens import create_token, revoke_token
from tests._kafka import free_port
from tests.conftest import A, B

ROLES = ("none", "revoked", "agency", "other_agency", "operator", "auditor")
TOKEN_ROLES = {
    "operator": "operator",
    "auditor": "auditor",
    "agency": f"agency:{A}",
    "other_agency": f"agency:{B}",
    "revoked": "operator",
}


@dataclass
class Hub:
    """The app behind an in-process client, with plaintext tokens and console sessions."""

    app: FastAPI
    client: httpx.AsyncClient
    tokens: dict[str, str]
    settings: Settings
    cookies: dict[str, str] = field(default_factory=dict)

    def bearer(self, role: str) -> dict[str, str]:
        """``Authorization`` header of ``role`` (empty for ``none``)."""
        token = self.tokens.get(role)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def session_cookie(self, role: str) -> dict[str, str]:
        """``Cookie`` header carrying the console session of ``role`` (empty when it has none)."""
        value = self.cookies.get(role)
        return {"Cookie": f"{COOKIE}={value}"} if value else {}

    def csrf(self, role: str) -> str:
        """The CSRF token of ``role``'s console session."""
        codec: SessionCodec = self.app.state.sessions
        session: Session | None = codec.read(self.cookies.get(role))
        return codec.csrf(session) if session else ""

    async def sign_in(self, role: str) -> httpx.Response:
        """POST the sign-in form with ``role``'s token; keep the cookie if one was set."""
        response = await self.client.post(
            "/console/login", data={"token": self.tokens.get(role, ""), "next": "/console"}
        )
        value = response.cookies.get(COOKIE)
        if value:
            self.cookies[role] = value
        self.client.cookies.clear()
        return response


async def make_role_tokens(url: str) -> dict[str, str]:
    """A migrated database at ``url`` with a token for every role of ``ROLES``."""
    engine = make_engine(url)
    await migrate(engine)
    tokens: dict[str, str] = {}
    for name, role in TOKEN_ROLES.items():
        tokens[name], info = await create_token(engine, role, f"test {name}")
        if name == "revoked":
            await revoke_token(engine, info.id)
    await engine.dispose()
    return tokens


def offline_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings whose Kafka is a closed local port (every Kafka call fails fast)."""
    values: dict[str, object] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
        "kafka_bootstrap": f"127.0.0.1:{free_port()}",
        "gateway_kafka_timeout_seconds": 1,
        "monitor_poll_seconds": 0.5,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_hub(settings: Settings, *, sign_in: bool = True) -> AsyncIterator[Hub]:
    """The app with its lifespan, tokens for every role, and console sessions where allowed."""
    tokens = await make_role_tokens(settings.database_url)
    app = create_app(settings)
    app.state.stream_seconds = 0.3  # SSE responses end quickly under an in-process client
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            hub = Hub(app, client, tokens, settings)
            if sign_in:
                for role in ("operator", "auditor"):
                    response = await hub.sign_in(role)
                    assert response.status_code == 303, response.text
            yield hub
