"""``edoc audit verify``: recompute the log from the database and compare with every checkpoint.

Catches edits, deletions, insertions and reordering done behind the service's
back (e.g. with superuser SQL and the triggers disabled):

1. every row's columns, re-serialised, must hash to its stored leaf hash
   (an edited column shows here);
2. ``seq`` must run 0, 1, 2 … without gaps or repeats (a deleted or inserted
   row shows here), and each row's recipients must match ``log_recipients``;
3. every checkpoint's signature must verify with the hub certificate whose key ID
   it names (several certificates after a hub key rotation), and the
   root of the first ``tree_size`` *recomputed* leaves must equal its root
   (a row rewritten together with its leaf hash shows here, located between
   the previous good checkpoint and this one).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from cryptography import x509
from sqlalchemy import select

from hub.store.log import IntegrityReport, SignatureLog, row_to_entry
from hub.store.schema import log_entries, log_recipients
from signing.checkpoint import SignedCheckpoint, key_id
from signing.errors import SigningError
from signing.merkle import leaf_hash, root_hash


def _signer_cert(signed: SignedCheckpoint, certs: Sequence[x509.Certificate]) -> x509.Certificate:
    """The certificate whose key ID the checkpoint names; the first one when none does."""
    for cert in certs:
        public_key = cert.public_key()
        try:
            if key_id(signed.signer_name, public_key) == signed.key_id:  # type: ignore[arg-type]
                return cert
        except (TypeError, ValueError):  # a key type that cannot sign checkpoints
            continue
    return certs[0]  # verify() then says which key ID was expected


async def verify_integrity(
    log: SignatureLog, hub_cert: x509.Certificate | Sequence[x509.Certificate]
) -> IntegrityReport:
    """Check the whole log; the report names the first divergence of each kind.

    ``hub_cert``: the hub certificate, or all of them after key rotations — each
    checkpoint is verified with the one whose key ID it carries.
    """
    certs = [hub_cert] if isinstance(hub_cert, x509.Certificate) else list(hub_cert)
    report = IntegrityReport()
    leaves: list[bytes] = []
    async with log.engine.connect() as conn:
        recips: dict[int, set[str]] = defaultdict(set)
        for r in await conn.execute(select(log_recipients)):
            recips[int(r.seq)].add(r.agency)
        rows = await conn.stream(select(log_entries).order_by(log_entries.c.seq))
        async for row in rows:
            # Step 2: positions are contiguous.
            if row.seq != len(leaves):
                report.problems.append(
                    f"entry at position {len(leaves)} has seq {row.seq}: rows were deleted, "
                    "inserted or renumbered"
                )
                return report
            # Step 1: content matches the stored leaf hash.
            entry = row_to_entry(row)
            recomputed = leaf_hash(entry.canonical_bytes())
            if recomputed != bytes(row.leaf_hash) and len(report.problems) < 10:
                report.problems.append(
                    f"entry {row.seq} ({entry.identity}): its columns do not match its leaf hash "
                    "(edited after it was recorded)"
                )
            if set(entry.recipients) != recips.get(row.seq, set()) and len(report.problems) < 10:
                report.problems.append(f"entry {row.seq}: recipient index differs from the entry")
            leaves.append(recomputed)
    report.entries = len(leaves)
    # Step 3: every checkpoint against the recomputed tree.
    previous_good = 0
    for cp in await log.checkpoints():
        try:
            signed = SignedCheckpoint.from_text(cp.note)
            signed.verify(_signer_cert(signed, certs))
        except SigningError as exc:
            report.problems.append(f"checkpoint at size {cp.tree_size}: {exc.message}")
            continue
        if signed.checkpoint.size != cp.tree_size or signed.checkpoint.root != cp.root_hash:
            report.problems.append(
                f"checkpoint at size {cp.tree_size}: stored columns differ from its signed note"
            )
            continue
        if cp.tree_size > len(leaves):
            report.problems.append(
                f"checkpoint at size {cp.tree_size} but the log holds {len(leaves)} entries: "
                "entries were deleted"
            )
            continue
        if root_hash(leaves[: cp.tree_size]) != signed.checkpoint.root:
            report.problems.append(
                f"checkpoint at size {cp.tree_size}: the recomputed root differs — entries "
                f"{previous_good}..{cp.tree_size - 1} were rewritten"
            )
            continue
        previous_good = cp.tree_size
        report.checkpoints_checked += 1
    cps = await log.checkpoints()
    report.uncovered = len(leaves) - (cps[-1].tree_size if cps else 0)
    return report
