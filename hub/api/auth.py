"""Bearer-token authentication and role checks for every HTTP route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.store.tokens import TokenInfo, authenticate

_bearer = HTTPBearer(auto_error=False, description="an API token from `edoc token create`")


async def current_token(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TokenInfo:
    """The caller's token; 401 when missing or unknown/revoked."""
    if creds is None:
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
    return info


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
