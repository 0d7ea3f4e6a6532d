"""signing.merkle against published vectors, against the RFC's own recursive definitions,
and under tampering.

The vectors are the 8-leaf tree of transparency-dev/merkle (proof/verify_test.go,
rfc6962/rfc6962_test.go), inherited from certificate-transparency. The reference
functions below transcribe RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 literally
(recursion, slicing) and share no code with the module under test.
"""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signing.errors import SigningError
from signing.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

_LEAF_HEX = "|00|10|2021|3031|40414243|5051525354555657|606162636465666768696a6b6c6d6e6f"
LEAVES = [bytes.fromhex(h) for h in _LEAF_HEX.split("|")]
HASHES = [leaf_hash(d) for d in LEAVES]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
_H = {
    "96a2": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f08": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    "bc1a": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca85": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37e": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "fac5": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "6e34": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "0ebc": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "b086": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
}
# (leaf index, tree size, proof); the Go file numbers leaves from 1.
INCLUSION = [
    (0, 1, []),
    (0, 8, ["96a2", "5f08", "6b47"]),
    (5, 8, ["bc1a", "ca85", "d37e"]),
    (2, 3, ["fac5"]),
    (1, 5, ["6e34", "5f08", "bc1a"]),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a2", "5f08", "6b47"]),
    (6, 8, ["0ebc", "ca85", "d37e"]),
    (2, 5, ["5f08", "bc1a"]),
    (6, 7, ["0ebc", "b086", "d37e"]),
]


def _proof(names: list[str]) -> list[bytes]:
    return [bytes.fromhex(_H[n]) for n in names]


# --- RFC 9162 §2.1, transcribed literally -------------------------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def _data(n: int) -> list[bytes]:
    """Distinct leaf data, so no two leaves share a hash."""
    return [b"entry-%d" % i for i in range(n)]


# --- published vectors -----------------------------------------------------------------


def test_hasher_vectors() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_hash([]) == EMPTY_ROOT
    assert leaf_hash(b"").hex() == _H["6e34"]
    assert leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


@pytest.mark.parametrize("size", range(1, 9))
def test_published_roots(size: int) -> None:
    assert root_hash(HASHES[:size]) == ROOTS[size - 1]
    acc = MerkleAccumulator()
    for h in HASHES[:size]:
        acc.append(h)
    assert (acc.size, acc.root()) == (size, ROOTS[size - 1])


@pytest.mark.parametrize(("index", "size", "names"), INCLUSION)
def test_published_inclusion_proofs(index: int, size: int, names: list[str]) -> None:
    proof = _proof(names)
    assert inclusion_proof(index, HASHES[:size]) == proof
    verify_inclusion(HASHES[index], index, size, proof, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "names"), CONSISTENCY)
def test_published_consistency_proofs(old: int, new: int, names: list[str]) -> None:
    proof = _proof(names)
    assert consistency_proof(old, HASHES[:new]) == proof
    verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


# --- against the reference definitions, exhaustively for small trees -------------------


@pytest.mark.parametrize("size", range(1, 40))
def test_matches_rfc_definitions(size: int) -> None:
    data = _data(size)
    hashes = [leaf_hash(d) for d in data]
    root = root_hash(hashes)
    assert root == ref_mth(data)
    for m in range(size):
        proof = inclusion_proof(m, hashes)
        assert proof == ref_path(m, data)
        verify_inclusion(hashes[m], m, size, proof, root)
    for m in range(1, size + 1):
        proof = consistency_proof(m, hashes)
        assert proof == ref_subproof(m, data, True)
        verify_consistency(m, size, root_hash(hashes[:m]), root, proof)


# --- properties: good proofs verify, any tampering raises ProofError --------------------


def _flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8 % len(out)] ^= 1 << bit % 8
    return bytes(out)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300), st.data())
def test_inclusion_property(size: int, data: st.DataObject) -> None:
    hashes = [leaf_hash(d) for d in _data(size)]
    root = root_hash(hashes)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(index, hashes)
    verify_inclusion(hashes[index], index, size, proof, root)

    bit = data.draw(st.integers(0, 255), label="bit")
    tampered: list[tuple[bytes, int, int, list[bytes], bytes]] = [
        (_flip(hashes[index], bit), index, size, proof, root),
        (hashes[index], index, size, proof, _flip(root, bit)),
        (hashes[index], index, size * 2, proof, root),
        (hashes[index], index, size // 2, proof, root),
        (hashes[index], index, size, [*proof, root], root),
        (hashes[index], index, size, [root, *proof], root),
    ]
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="at")
        tampered.append((hashes[index], index, size, proof[:-1], root))
        flipped = [*proof[:at], _flip(proof[at], bit), *proof[at + 1 :]]
        tampered.append((hashes[index], index, size, flipped, root))
    wrong = data.draw(st.integers(-1, size).filter(lambda i: i != index), label="wrong index")
    tampered.append((hashes[index], wrong, size, proof, root))
    for args in tampered:
        with pytest.raises(ProofError):
            verify_inclusion(*args)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300), st.data())
def test_consistency_property(size: int, data: st.DataObject) -> None:
    hashes = [leaf_hash(d) for d in _data(size)]
    old = data.draw(st.integers(0, size), label="old size")
    old_root, new_root = root_hash(hashes[:old]), root_hash(hashes)
    proof = consistency_proof(old, hashes)
    verify_consistency(old, size, old_root, new_root, proof)

    bit = data.draw(st.integers(0, 255), label="bit")
    tampered: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old, size, _flip(old_root, bit), new_root, proof),
        (old, size, old_root, new_root, [*proof, new_root]),
        (old, size, old_root, new_root, [old_root, *proof]),
    ]
    if old:  # every tree extends the empty one: from size 0 the new root is free
        tampered.append((old, size, old_root, _flip(new_root, bit), proof))
    if old not in (0, size):
        tampered.append((old, size * 2, old_root, new_root, proof))
        tampered.append((old, size, new_root, old_root, proof))
        tampered.append((old, size, old_root, new_root, []))
        tampered.append((old, size, old_root, new_root, proof[:-1]))
        at = data.draw(st.integers(0, len(proof) - 1), label="at")
        flipped = [*proof[:at], _flip(proof[at], bit), *proof[at + 1 :]]
        tampered.append((old, size, old_root, new_root, flipped))
    wrong = data.draw(st.integers(-1, size + 1).filter(lambda m: m != old), label="wrong old")
    tampered.append((wrong, size, old_root, new_root, proof))
    for args in tampered:
        with pytest.raises(ProofError):
            verify_consistency(*args)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 64), st.integers(0, 70), st.integers(-2, 140), st.integers(0, 6))
def test_any_size_or_length_fails_only_with_proof_error(
    size: int, index: int, claimed: int, cut: int
) -> None:
    """A root does not commit to its size, so some wrong sizes verify (the signed
    checkpoint supplies the size); but nothing ever raises anything but ProofError."""
    hashes = [leaf_hash(d) for d in _data(size)]
    root = root_hash(hashes)
    proof = inclusion_proof(index % size, hashes)[cut:]
    with contextlib.suppress(ProofError):
        verify_inclusion(hashes[index % size], index, claimed, proof, root)
    with contextlib.suppress(ProofError):
        verify_consistency(index, claimed, root_hash(hashes[: index % size]), root, proof)


# --- edge cases and messages ----------------------------------------------------------


def test_errors_are_signing_errors_with_precise_messages() -> None:
    assert issubclass(ProofError, SigningError)
    proof = inclusion_proof(5, HASHES)
    with pytest.raises(ProofError, match=r"wrong inclusion proof length 2: .* needs 3"):
        verify_inclusion(HASHES[5], 5, 8, proof[:2], ROOTS[7])
    with pytest.raises(ProofError, match="outside a tree of size 8"):
        verify_inclusion(HASHES[5], 8, 8, proof, ROOTS[7])
    with pytest.raises(ProofError, match="root mismatch"):
        verify_inclusion(HASHES[4], 5, 8, proof, ROOTS[7])
    with pytest.raises(ProofError, match=r"proof\[1\] is not a 32-byte"):
        verify_inclusion(HASHES[5], 5, 8, [proof[0], b"short", proof[2]], ROOTS[7])
    with pytest.raises(ProofError, match="cannot extend"):
        verify_consistency(8, 7, ROOTS[7], ROOTS[6], [])
    with pytest.raises(ProofError, match="old root mismatch"):
        verify_consistency(
            6, 8, ROOTS[5], ROOTS[7], [_flip(_proof(["0ebc"])[0], 0), *_proof(["ca85", "d37e"])]
        )
    with pytest.raises(ProofError, match="no leaf 8"):
        inclusion_proof(8, HASHES)
    with pytest.raises(ProofError, match="no tree of size 9"):
        consistency_proof(9, HASHES)


def test_trivial_consistency() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 8, EMPTY_ROOT, ROOTS[7], [])
    verify_consistency(8, 8, ROOTS[7], ROOTS[7], [])
    assert consistency_proof(0, HASHES) == consistency_proof(8, HASHES) == []
    with pytest.raises(ProofError, match="root mismatch"):
        verify_consistency(8, 8, ROOTS[7], ROOTS[6], [])
    with pytest.raises(ProofError, match="root mismatch"):
        verify_consistency(0, 8, ROOTS[0], ROOTS[7], [])
    with pytest.raises(ProofError, match="proof length 1"):
        verify_consistency(8, 8, ROOTS[7], ROOTS[7], [ROOTS[7]])


def test_accumulator_matches_root_hash_at_every_size() -> None:
    hashes = [leaf_hash(d) for d in _data(300)]
    acc = MerkleAccumulator()
    assert acc.root() == EMPTY_ROOT
    for n, h in enumerate(hashes, start=1):
        acc.append(h)
        assert acc.root() == root_hash(hashes[:n])
    with pytest.raises(ProofError):
        acc.append(b"not a hash")


def test_large_tree_is_fast_enough() -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(100_000)]
    root = root_hash(hashes)
    verify_inclusion(hashes[77_777], 77_777, len(hashes), inclusion_proof(77_777, hashes), root)
    old_root = root_hash(hashes[:65_537])
    verify_consistency(65_537, len(hashes), old_root, root, consistency_proof(65_537, hashes))
