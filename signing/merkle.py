"""RFC 9162 (RFC 6962) Merkle tree maths over SHA-256: hashes, proofs, proof checks.

Pure functions on bytes, no I/O. A leaf is hashed ``SHA-256(0x00 || data)``,
an interior node ``SHA-256(0x01 || left || right)``, and the empty tree's root
is ``SHA-256("")`` (RFC 9162 §2.1.1). Proof generation follows the recursive
definitions of RFC 9162 §2.1.3.1 (PATH) and §2.1.4.1 (PROOF/SUBPROOF),
unrolled into loops; the verifiers are the bit-twiddling algorithms of
§2.1.3.2 and §2.1.4.2. Every verification failure raises ``ProofError``.

A root hash commits to the leaves, not to the tree size: a proof checked
against a root is only as good as the (signed) size it came with — which is
why a checkpoint signs both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from signing.errors import SigningError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(SigningError):
    """A Merkle inclusion or consistency proof does not verify, or cannot exist."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the tree whose leaves have these hashes (RFC 9162 §2.1.1)."""
    return _mth(leaf_hashes, 0, len(leaf_hashes))


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path PATH(index, D[n]) of RFC 9162 §2.1.3.1, leaf side first."""
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise ProofError(f"no leaf {index} in a tree of size {size}")
    # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])    if m < k
    #               = PATH(m - k, D[k:n]) : MTH(D[0:k]) if m >= k
    # Walked from the root down, so the hashes come out root side first.
    path: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            path.append(_mth(leaf_hashes, start + k, end))
            end = start + k
        else:
            path.append(_mth(leaf_hashes, start, start + k))
            start, m = start + k, m - k
    path.reverse()
    return path


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(old_size, D[n]) of RFC 9162 §2.1.4.1; empty when old_size is 0 or n."""
    size = len(leaf_hashes)
    if not 0 <= old_size <= size:
        raise ProofError(f"no tree of size {old_size} precedes a tree of size {size}")
    if old_size in (0, size):
        return []
    # SUBPROOF(m, D[n], b) = [] if m == n and b; [MTH(D[n])] if m == n and not b
    #   = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])          if m <= k
    #   = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])  if m > k
    path: list[bytes] = []
    start, end, m, whole_old_tree = 0, size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            path.append(_mth(leaf_hashes, start + k, end))
            end = start + k
        else:
            path.append(_mth(leaf_hashes, start, start + k))
            start, m, whole_old_tree = start + k, m - k, False
    if not whole_old_tree:
        path.append(_mth(leaf_hashes, start, end))
    path.reverse()
    return path


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` with ``root``.

    RFC 9162 §2.1.3.2; raises ``ProofError`` saying what does not hold.
    """
    _check_hashes(leaf_hash=leaf_hash, root=root, proof=proof)
    # 1. The leaf index must lie inside the tree.
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index} is outside a tree of size {tree_size}")
    want = _inclusion_length(index, tree_size)
    if len(proof) != want:
        raise ProofError(
            f"wrong inclusion proof length {len(proof)}: leaf {index} of a tree "
            f"of size {tree_size} needs {want} hashes"
        )
    # 2. fn is the leaf's index, sn the last index, on the current level.
    fn, sn = index, tree_size - 1
    # 3. r starts as the leaf hash.
    r = leaf_hash
    # 4. Climb one level per proof hash.
    for p in proof:
        # 4a. Already at the root with hashes left over.
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        # 4b. A right child, or the last node of its level: p is on the left.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # Skip the levels where this node had no right sibling.
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        # 4c. One level up.
        fn, sn = fn >> 1, sn >> 1
    # 5. The path must end at the root and give the expected root hash.
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    _expect_root("root", "inclusion", r, root)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (``new_size``, ``new_root``) extends (``old_size``, ``old_root``).

    RFC 9162 §2.1.4.2; raises ``ProofError`` saying what does not hold. Equal
    sizes need equal roots and an empty proof; every tree extends the empty
    tree, so from ``old_size`` 0 only ``old_root`` == SHA-256("") is checked.
    """
    _check_hashes(old_root=old_root, new_root=new_root, proof=proof)
    if not 0 <= old_size <= new_size:
        raise ProofError(f"tree size {new_size} cannot extend tree size {old_size}")
    if old_size in (0, new_size):
        _verify_trivial_consistency(old_size, new_size, old_root, new_root, proof)
        return
    # 1. A non-trivial proof is never empty; the exact length follows from the sizes.
    want = _consistency_length(old_size, new_size)
    if len(proof) != want:
        raise ProofError(
            f"wrong consistency proof length {len(proof)}: from size {old_size} "
            f"to size {new_size} needs {want} hashes"
        )
    # 2. When the old tree is a complete subtree, its root is the proof's first node.
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3. fn is the old tree's last index, sn the new tree's.
    fn, sn = old_size - 1, new_size - 1
    # 4. Start above the largest complete subtree ending at the old tree's last leaf.
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # 5. Both roots are rebuilt from that subtree's hash.
    fr = sr = path[0]
    # 6. Climb one level per remaining hash.
    for c in path[1:]:
        # 6a. Already at the root with hashes left over.
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the root")
        # 6b. c is on the left: it belongs to both trees.
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            # c is on the right: it only exists in the new tree.
            sr = node_hash(sr, c)
        # 6c. One level up.
        fn, sn = fn >> 1, sn >> 1
    # 7. Both paths end at the root and give the two expected roots.
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    _expect_root("old root", "consistency", fr, old_root)
    _expect_root("new root", "consistency", sr, new_root)


def _expect_root(name: str, kind: str, computed: bytes, expected: bytes) -> None:
    """The root a proof leads to is the expected one; otherwise a ``ProofError``."""
    if computed != expected:
        raise ProofError(
            f"{name} mismatch: the {kind} proof leads to {computed.hex()}, "
            f"expected {expected.hex()}"
        )


def _verify_trivial_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Equal trees, or the empty prefix of any tree: an empty proof and the known root."""
    if proof:
        raise ProofError(
            f"wrong consistency proof length {len(proof)}: from size {old_size} "
            f"to size {new_size} the proof is empty"
        )
    expected = new_root if old_size == new_size else EMPTY_ROOT
    if old_root != expected:
        raise ProofError(
            f"root mismatch: tree size {old_size} has root {expected.hex()}, got {old_root.hex()}"
        )


class MerkleAccumulator:
    """Root of a growing tree in O(log n) memory (a compact range starting at 0).

    Keeps the roots of the complete subtrees the leaves so far decompose into,
    largest first; appending a leaf merges equal-sized neighbours.
    """

    def __init__(self) -> None:
        self._size = 0
        self._peaks: list[bytes] = []

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf, given by its leaf hash."""
        _check_hashes(leaf_hash=leaf_hash)
        node = leaf_hash
        # One merge per trailing 1 bit of the old size: those subtrees are now paired.
        size = self._size
        while size & 1:
            node = node_hash(self._peaks.pop(), node)
            size >>= 1
        self._peaks.append(node)
        self._size += 1

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        if not self._peaks:
            return EMPTY_ROOT
        node = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            node = node_hash(peak, node)
        return node


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH(D[start:end]) level by level: lifting an odd last node = RFC 9162's split at k."""
    if start == end:
        return EMPTY_ROOT
    level = list(leaf_hashes[start:end])
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            paired.append(level[-1])
        level = paired
    return level[0]


def _inclusion_length(index: int, size: int) -> int:
    """Proof length for leaf ``index`` of a tree of ``size``.

    One hash per level below where the paths to ``index`` and ``size - 1`` meet
    (``inner``), then one per left sibling on the right border above it.
    """
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_length(old_size: int, new_size: int) -> int:
    """Proof length from ``old_size`` to ``new_size`` (``0 < old_size < new_size``)."""
    inner = ((old_size - 1) ^ (new_size - 1)).bit_length()
    border = ((old_size - 1) >> inner).bit_count()
    shift = (old_size & -old_size).bit_length() - 1
    # The complete subtree of 2**shift leaves at the old tree's end is one node;
    # it is sent unless it is the whole old tree (whose root the verifier has).
    seed = 0 if old_size == 1 << shift else 1
    return seed + inner - shift + border


def _check_hashes(proof: Sequence[bytes] = (), **named: bytes) -> None:
    """Every hash is a 32-byte ``bytes``; otherwise a ``ProofError`` naming it."""
    items = [*named.items(), *((f"proof[{i}]", h) for i, h in enumerate(proof))]
    for name, value in items:
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            size = len(value) if isinstance(value, bytes) else type(value).__name__
            raise ProofError(f"{name} is not a {HASH_SIZE}-byte SHA-256 hash (got {size})")
