"""schemas.codec: canonical base64, and duplicate JSON members found by two scans that agree."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import (
    MAX_ENVELOPE_STRUCTURE,
    DuplicateKeyError,
    check_unique_keys,
    check_unique_keys_envelope,
    strict_b64decode,
)
from schemas.package import b64url_decode

# (text, urlsafe, padding, decoded or None when refused)
B64_CASES: list[tuple[str, bool, str | None, bytes | None]] = [
    ("QUJD", False, None, b"ABC"),
    ("QUI=", False, None, b"AB"),
    ("QQ==", False, None, b"A"),
    ("", False, None, b""),
    ("QUI", False, None, None),  # padding missing
    ("QUI==", False, None, None),  # excess padding
    ("QQ=", False, None, None),
    ("QUJ=", False, None, None),  # stray bit in the last character
    ("QR==", False, None, None),  # stray bits
    ("QU JD", False, None, None),
    ("QUJD\n", False, None, None),
    ("QUJ*", False, None, None),
    ("QU=JD", False, None, None),
    ("QUJDRA", False, None, None),
    ("-_-_", False, None, None),  # the url alphabet in standard base64
    ("QUI", True, None, b"AB"),
    ("-_-_", True, None, b"\xfb\xff\xbf"),
    ("QUI=", True, None, None),  # JWS segments are unpadded
    ("+/+/", True, None, None),
    ("QUJ", True, None, None),
    ("QUI=", True, "optional", b"AB"),  # the package's header: padding optional
    ("QUI", True, "optional", b"AB"),
    ("QUI==", True, "optional", None),
    ("QQ", True, "optional", b"A"),
    ("QQ=", True, "optional", None),
    ("Q", True, "optional", None),
    ("QUJDé", True, "optional", None),
]


@pytest.mark.parametrize(("text", "urlsafe", "padding", "want"), B64_CASES)
def test_strict_b64decode(text: str, urlsafe: bool, padding: Any, want: bytes | None) -> None:
    if want is None:
        with pytest.raises(ValueError):
            strict_b64decode(text, urlsafe=urlsafe, padding=padding)
    else:
        assert strict_b64decode(text, urlsafe=urlsafe, padding=padding) == want


@given(data=st.binary(max_size=64), urlsafe=st.booleans())
def test_the_encoder_output_is_the_one_spelling(data: bytes, urlsafe: bool) -> None:
    text = base64.urlsafe_b64encode(data).rstrip(b"=") if urlsafe else base64.b64encode(data)
    assert strict_b64decode(text.decode(), urlsafe=urlsafe) == data


_B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n"


@given(
    data=st.binary(min_size=1, max_size=32),
    at=st.integers(0, 64),
    char=st.sampled_from(_B64_CHARS),
    op=st.sampled_from(["replace", "insert", "delete"]),
)
def test_no_second_spelling_decodes(data: bytes, at: int, char: str, op: str) -> None:
    """Any edit of a canonical encoding is refused or decodes to other bytes: one spelling each."""
    text = base64.b64encode(data).decode()
    i = at % len(text)
    edited = {
        "replace": text[:i] + char + text[i + 1 :],
        "insert": text[:i] + char + text[i:],
        "delete": text[:i] + text[i + 1 :],
    }[op]
    try:
        decoded = strict_b64decode(edited, urlsafe=False)
    except ValueError:
        return
    assert edited == text or decoded != data


def test_stored_headers_are_read_tolerantly() -> None:
    """Headers the hub stored before the canonical rule may carry stray bits; they stay readable."""
    assert b64url_decode("QUJ") == b"AB"
    assert b64url_decode("QUI===") == b"AB"
    with pytest.raises(ValueError):
        b64url_decode("QU+J")


# -- duplicate members -----------------------------------------------------------------


@pytest.mark.parametrize("check", [check_unique_keys, check_unique_keys_envelope])
@pytest.mark.parametrize(
    ("text", "duplicate"),
    [
        ('{"a":1,"a":2}', "a"),
        ('{"a":1,"\\u0061":2}', "a"),
        ('{"é":1,"\\u00e9":2}', "é"),
        ('{"a\\"":1, "a\\"" : 2}', 'a"'),
        ('{"a\\\\":1,"a\\\\":2}', "a\\"),
        ('{"k":{},"k":[]}', "k"),
        ('[{},{"x":1,"x":1}]', "x"),
        ('{"a":"\\\\","b":{"c":[1,{"d":2,"d":3}]}}', "d"),
        ('{"a":{"a":1},"b":[{"x":1},{"x":2}]}', None),
        ('["a","a"]', None),
        ('{"a":"a","b":"a"}', None),
        ('{"s":"{\\"a\\":1,\\"a\\":2}"}', None),
        ('{"a":"x\\"","b":"\\"a\\":"}', None),
        ("{}", None),
        ("[]", None),
        ('"a"', None),
    ],
)
def test_duplicate_members(check: Any, text: str, duplicate: str | None) -> None:
    if duplicate is None:
        check(text.encode())
    else:
        with pytest.raises(DuplicateKeyError) as info:
            check(text.encode())
        assert str(info.value) == f"member {duplicate!r} appears twice in one object"


def _escape(name: str, how: list[bool]) -> str:
    """A JSON string for ``name`` with some characters written as \\u escapes."""
    out = []
    for ch, escape in zip(name, how + [False] * len(name), strict=False):
        if escape or ch in '"\\' or ord(ch) < 0x20:
            out.append("".join(f"\\u{u:04x}" for u in _utf16(ch)))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _utf16(ch: str) -> list[int]:
    raw = ch.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


_NAMES = st.text(alphabet='ab"\\é{}[],: \x01', max_size=3)
_SCALARS = st.one_of(
    st.integers(-5, 5),
    st.booleans(),
    st.none(),
    _NAMES.map(json.dumps),
).map(lambda v: v if isinstance(v, str) else json.dumps(v))


def _json_text(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(_NAMES, st.lists(st.booleans(), max_size=3), children)
    obj = st.lists(pair, max_size=4).map(
        lambda ps: "{" + ", ".join(f"{_escape(n, h)}:{v}" for n, h, v in ps) + "}"
    )
    arr = st.lists(children, max_size=4).map(lambda vs: "[" + ",".join(vs) + "]")
    return st.one_of(obj, arr)


JSON_TEXTS = st.recursive(_SCALARS, _json_text, max_leaves=20)


def _verdict(check: Any, raw: bytes) -> bool:
    try:
        check(raw)
    except DuplicateKeyError:
        return True
    return False


@settings(max_examples=500, deadline=None)
@given(text=JSON_TEXTS)
def test_envelope_scan_agrees_with_json_loads(text: str) -> None:
    """The fast scan (strings skipped with find) finds a duplicate exactly when json.loads does."""
    raw = text.encode("utf-8", "surrogatepass")
    json.loads(raw)  # the generator makes valid JSON only
    assert _verdict(check_unique_keys_envelope, raw) == _verdict(check_unique_keys, raw)


def test_envelope_scan_stops_at_its_budget() -> None:
    """A duplicated member can hide any amount of JSON; the scan does not follow it all."""
    hidden = b"[" + b"1," * MAX_ENVELOPE_STRUCTURE + b"1]"
    with pytest.raises(DuplicateKeyError, match="brackets, commas and escaped quotes"):
        check_unique_keys_envelope(b'{"header":' + hidden + b',"header":"x"}')
    escaped = b'"' + b'\\"' * (MAX_ENVELOPE_STRUCTURE + 1) + b'"'
    with pytest.raises(DuplicateKeyError, match="brackets, commas and escaped quotes"):
        check_unique_keys_envelope(b'{"value":' + escaped + b"}")
    check_unique_keys_envelope(b'{"content":"' + b"QUJD" * 1_000_000 + b'"}')  # long is fine
