"""Strict readers for the wire's encodings: canonical base64 and JSON without duplicate keys.

A value that two readers could understand differently is refused where it
enters. Base64 has one spelling per value (RFC 4648 §3.5: the right padding, no
whitespace, no other alphabet, zero bits in the unused end of the last
character); a JSON object names each member once (RFC 8259 §4 leaves duplicates
to the reader, and readers disagree: pydantic keeps the last copy, others the
first, so a recipient could see another header than the hub judged).
"""

from __future__ import annotations

import binascii
import json
import string
from typing import Literal

import pybase64

#: How ``=`` padding is treated: the standard alphabet requires it, the JWS
#: segments forbid it, the package's ``header`` accepts either (docs/wire-format.md).
Padding = Literal["required", "forbidden", "optional"]

_STD = string.ascii_uppercase + string.ascii_lowercase + string.digits
_VALUE = {c: i for i, c in enumerate(_STD + "+/")}
_URL_VALUE = {c: i for i, c in enumerate(_STD + "-_")}
# base64url → standard alphabet; "+" and "/" become "!" so the strict decoder refuses them.
_URL_TO_STD = bytes.maketrans(b"-_+/", b"+/!!")


def strict_b64decode(
    text: str, *, urlsafe: bool, padding: Padding | None = None, canonical: bool = True
) -> bytes:
    """Decode base64 (``urlsafe``: base64url) in its one canonical spelling; else ``ValueError``.

    ``padding`` defaults to required for base64 and forbidden for base64url.
    The checks before decoding cost a dictionary lookup, not a re-encode, so
    this runs on every attachment (SIMD decoding via pybase64).
    ``canonical=False`` tolerates stray bits and excess padding: only for
    reading back what the hub itself stored before these rules existed.
    """
    if not text.isascii():
        raise ValueError("not base64: non-ASCII characters")
    size, pad = _split_padding(text, padding or ("forbidden" if urlsafe else "required"), canonical)
    rem = size % 4
    if canonical and rem:
        value = (_URL_VALUE if urlsafe else _VALUE).get(text[size - 1])
        if value is None or value & (0x0F if rem == 2 else 0x03):
            raise ValueError("non-canonical base64 (stray bits in the last character)")
    if not urlsafe and pad == -rem % 4:
        data: str | bytes = text  # already exactly padded: no copy of a large attachment
    else:
        raw = text[:size].encode("ascii")
        data = (raw.translate(_URL_TO_STD) if urlsafe else raw) + b"=" * (-rem % 4)
    try:
        # validate=True refuses whitespace, '=' inside, and any other alphabet.
        return pybase64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64: {exc}") from None


def _split_padding(text: str, padding: Padding, canonical: bool) -> tuple[int, int]:
    """(characters before the padding, '=' count), checked against ``padding``."""
    if canonical:
        # Counted, not stripped: rstrip would copy a megabyte attachment.
        pad = 0
        while pad < min(3, len(text)) and text[-1 - pad] == "=":
            pad += 1
    else:
        pad = len(text) - len(text.rstrip("="))
    size = len(text) - pad
    rem = size % 4
    if rem == 1:
        raise ValueError("base64 length is wrong")
    if pad and padding == "forbidden":
        raise ValueError("base64url must be unpadded")
    if not pad and rem and padding == "required":
        raise ValueError("base64 padding is missing")
    if canonical and pad and pad != -rem % 4:
        raise ValueError("base64 padding is wrong (excess '=')")
    return size, pad


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return pybase64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class DuplicateKeyError(ValueError):
    """A JSON object names a member twice."""


def check_unique_keys(raw: bytes) -> None:
    """Raise ``DuplicateKeyError`` if an object of the JSON text ``raw`` names a member twice.

    The reference check, run on the header: ``json.loads`` with a hook that sees
    every member. Names are compared after unescaping (``"a"`` = ``"\\u0061"``).
    ``raw`` is valid JSON already (the pydantic parse comes first).
    """
    try:
        json.loads(raw, object_pairs_hook=_unique_members)
    except RecursionError:  # deeper than the stack: the schema nests a few levels
        raise DuplicateKeyError("JSON nests too deeply") from None


def _unique_members(pairs: list[tuple[str, object]]) -> None:
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise DuplicateKeyError(f"member {name!r} appears twice in one object")
        seen.add(name)


#: Most brackets, commas and escaped quotes the envelope scan follows. A valid
#: package has a few hundred (16 signatures, 100 attachments); only values no
#: schema allows (a duplicated member's, or escapes in base64 text) have more.
MAX_ENVELOPE_STRUCTURE = 50_000
# Everything outside strings that is not a bracket or a comma (whitespace,
# colons, numbers, true/false/null), deleted in C before the Python loop.
_NOT_STRUCTURE = b" \t\r\n:0123456789+-.eEtrufalsn"


def check_unique_keys_envelope(raw: bytes) -> None:
    """``check_unique_keys`` for a package: a few long strings, scanned at memchr speed.

    ``json.loads`` reads every character of a 100 KB attachment in Python's
    string scanner, which costs as much as the rest of the verification; this
    skips each string with ``bytes.find`` and follows only brackets and
    commas. The tests hold it equal to ``check_unique_keys`` on arbitrary JSON.
    Beyond ``MAX_ENVELOPE_STRUCTURE`` it refuses rather than spend more time.
    """
    scan = _Scan()
    pos, size = 0, len(raw)
    while pos < size:
        quote = raw.find(b'"', pos)
        scan.follow(raw[pos : size if quote < 0 else quote])
        if quote < 0:
            break
        end = scan.string_end(raw, quote)
        if end < 0:
            break  # unterminated (not JSON, refused by the parser) or over budget
        pos = end + 1
        scan.string(raw, quote, pos)
    if scan.budget < 0:
        raise DuplicateKeyError(
            f"more than {MAX_ENVELOPE_STRUCTURE} brackets, commas and escaped quotes "
            "(a valid package has a few hundred)"
        )


class _Scan:
    """The state of ``check_unique_keys_envelope``: open containers and the budget left."""

    def __init__(self) -> None:
        # One entry per open container: the names seen so far, or None for an array.
        self.stack: list[set[str] | None] = []
        self.name_next = False
        self.budget = MAX_ENVELOPE_STRUCTURE

    def follow(self, between: bytes) -> None:
        """Brackets and commas between two strings."""
        gap = between.translate(None, _NOT_STRUCTURE)
        self.budget -= len(gap)
        if self.budget < 0:
            return
        for char in gap:
            if char == 0x7B:  # {
                self.stack.append(set())
                self.name_next = True
            elif char == 0x5B:  # [
                self.stack.append(None)
            elif char == 0x2C:  # ,
                self.name_next = bool(self.stack) and self.stack[-1] is not None
            elif char in b"}]" and self.stack:
                self.stack.pop()
                self.name_next = False

    def string_end(self, raw: bytes, quote: int) -> int:
        """Index of the quote closing the string opened at ``quote``; -1 if none or over budget."""
        end = raw.find(b'"', quote + 1)
        while end > 0 and self.budget >= 0:
            # A quote after an odd run of backslashes is part of the string.
            run = 0
            while run <= self.budget and raw[end - 1 - run] == 0x5C:
                run += 1
            self.budget -= run
            if run % 2 == 0:
                return end
            end = raw.find(b'"', end + 1)
        return -1

    def string(self, raw: bytes, start: int, end: int) -> None:
        """The string ``raw[start:end]``: a member name if it opens an object or follows a comma."""
        seen = self.stack[-1] if self.stack else None
        if self.budget < 0 or not self.name_next or seen is None:
            return
        self.name_next = False
        name = _name(raw[start:end])  # only names are copied; values may be 100 KB
        if name in seen:
            raise DuplicateKeyError(f"member {name!r} appears twice in one object")
        seen.add(name)


def _name(token: bytes) -> str:
    """A member name's text from its quoted JSON token."""
    if b"\\" not in token:
        return token[1:-1].decode("utf-8", "surrogateescape")
    try:
        name: str = json.loads(token)
    except ValueError:  # cannot happen after a successful parse; compare the spelling
        return token.decode("utf-8", "surrogateescape")
    return name
