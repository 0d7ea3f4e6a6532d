"""API tokens on SQLite and PostgreSQL: ids, names and secrets no token can have find nothing."""

from __future__ import annotations

import pytest

from hub.errors import StoreError
from hub.store.tokens import (
    MAX_NAME,
    active_token,
    authenticate,
    create_token,
    revoke_token,
)
from tests.hub.store.conftest import Backend


async def test_ids_beyond_the_column_name_no_token(backend: Backend) -> None:
    token, info = await create_token(backend.engine, "auditor", "Thanh tra tỉnh")
    found = await authenticate(backend.engine, token)
    assert found is not None and found.id == info.id
    # token ids are 32-bit on PostgreSQL: the driver raised on larger ones (exit 70, 500)
    for token_id in (2**31, 2**63, 10**30, 0, -1):
        assert await revoke_token(backend.engine, token_id) is False
        assert await active_token(backend.engine, token_id) is None
    still = await active_token(backend.engine, info.id)
    assert still is not None and still.role == "auditor"


async def test_secrets_of_any_text_are_unknown_not_an_error(backend: Backend) -> None:
    for secret in ("edoc_é", "edoc_\udcff", "edoc_\x00", "edoc_" + "x" * 100_000, "é"):
        assert await authenticate(backend.engine, secret) is None


@pytest.mark.parametrize("name", ["x" * (MAX_NAME + 1), "line\nbreak", "nul\x00", "\udcff"])
async def test_a_name_the_column_cannot_hold_is_a_clear_error(backend: Backend, name: str) -> None:
    # PostgreSQL refused these (value too long, NUL, invalid UTF-8) with a driver error
    with pytest.raises(StoreError, match="invalid token name") as err:
        await create_token(backend.engine, "operator", name)
    assert err.value.hint and str(MAX_NAME) in err.value.hint
