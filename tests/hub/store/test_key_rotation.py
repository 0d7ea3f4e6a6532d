"""Hub key rotation: checkpoints signed with the old key stay verifiable with the old cert."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hub.store.integrity import verify_integrity
from schemas.events import VerdictEvent
from signing.keys import load_cert_chain, load_private_key
from signing.pki import DemoPKI
from tests.conftest import HUB
from tests.hub.store.conftest import Backend
from tests.hub.store.test_log import checkpoint


async def test_old_and_new_checkpoints_verify_with_both_certificates(
    backend: Backend, make_events: Callable[[int], list[VerdictEvent]], pki: DemoPKI, tmp_path: Path
) -> None:
    old_cert = load_cert_chain(pki.hub.cert)[0]
    await backend.log.append(make_events(4))
    await checkpoint(backend, load_private_key(pki.hub.key))  # signed by the old key
    # Rotation: a new hub key and certificate, same signer name (EDOC_HUB_CODE).
    rotated = DemoPKI.init(tmp_path / "rotated", hub_code=HUB)
    new_cert = load_cert_chain(rotated.hub.cert)[0]
    await backend.log.append(make_events(3))
    await checkpoint(backend, load_private_key(rotated.hub.key))  # signed by the new key

    both = await verify_integrity(backend.log, [new_cert, old_cert])
    assert both.ok, both.problems
    assert both.checkpoints_checked == 2

    only_new = await verify_integrity(backend.log, new_cert)
    assert not only_new.ok
    assert "key ID" in only_new.problems[0]  # says which key signed the old checkpoint
    assert only_new.checkpoints_checked == 1
