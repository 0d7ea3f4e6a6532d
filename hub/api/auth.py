"""Authentication and role checks for every HTTP route.

Two ways in, one token store (``hub.store.tokens``):

* ``Authorization: Bearer <token>`` — API clients, any method;
* the console's session cookie (``hub.api.session``) — browsers, and only
  for safe methods (GET, HEAD) on the API, so a cookie can never make an API
  change; the console's own forms check a CSRF token instead.

Whoever is authenticated is remembered in the request scope (``ACTOR_KEY``) so
the action log (``hub.api.ops``) can say who did what.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.api.session import COOKIE, Session, SessionCodec
from hub.store.tokens import TokenInfo, active_token, authenticate

_bearer = HTTPBearer(auto_error=False, description="an API token from `edoc token create`")
#: Request-scope key holding the authenticated ``TokenInfo``.
ACTOR_KEY = "edoc.actor"
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def _remember(request: Request, info: TokenInfo) -> TokenInfo:
    request.scope[ACTOR_KEY] = info
    return info


async def console_session(request: Request) -> tuple[Session, TokenInfo] | None:
    """The signed-in console session and its (still active) token, or None."""
    codec: SessionCodec | None = getattr(request.app.state, "sessions", None)
    if codec is None:
        return None
    session = codec.read(request.cookies.get(COOKIE))
    if session is None:
        return None
    info = await active_token(request.app.state.engine, session.token_id)
    if info is None or info.role != session.role:
        return None
    _remember(request, info)
    return session, info


async def current_token(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TokenInfo:
    """The caller's token; 401 when missing or unknown/revoked."""
    if creds is None:
        if request.method in _SAFE_METHODS:
            signed_in = await console_session(request)
            if signed_in is not None:
                return signed_in[1]
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    info = await authenticate(request.app.state.engine, creds.credentials)
    if info is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return _remember(request, info)


def require_role(*roles: str) -> Callable[..., Awaitable[TokenInfo]]:
    """A dependency admitting only tokens whose role is one of ``roles``."""

    async def _check(token: Annotated[TokenInfo, Depends(current_token)]) -> TokenInfo:
        if token.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {token.role} may not use this route; needs {'/'.join(roles)}",
            )
        return token

    return _check


def agency_or_role(*roles: str) -> Callable[..., Awaitable[TokenInfo]]:
    """Admit ``roles`` for any agency, and ``agency:<code>`` only for its own ``{code}``."""

    async def _check(
        request: Request, token: Annotated[TokenInfo, Depends(current_token)]
    ) -> TokenInfo:
        code = request.path_params.get("code")
        if token.role in roles or token.role == f"agency:{code}":
            return token
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"role {token.role} may not see agency {code}",
        )

    return _check
