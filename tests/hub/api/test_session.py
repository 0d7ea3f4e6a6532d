"""Session cookies and CSRF tokens: signed, expiring, ended by sign-out, bound to one session."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.api.session import SessionCodec
from hub.store.tokens import TokenInfo

TOKEN = TokenInfo(7, "operator", "Trần Văn Vận Hành", datetime(2026, 11, 1, tzinfo=UTC), None)


def test_a_cookie_round_trips_and_carries_no_secret() -> None:
    codec = SessionCodec(b"k" * 32, 3600)
    session, cookie = codec.issue(TOKEN, now=1000)
    assert codec.read(cookie, now=1500) == session
    assert (session.token_id, session.role, session.name) == (7, "operator", TOKEN.name)
    assert "edoc_" not in cookie


def test_tampering_another_key_and_age_all_fail() -> None:
    codec = SessionCodec(b"k" * 32, 3600)
    _, cookie = codec.issue(TOKEN, now=1000)
    payload, mac = cookie.split(".")
    assert codec.read(payload[:-2] + "AA" + "." + mac, now=1000) is None
    assert codec.read(cookie + "x", now=1000) is None
    assert codec.read("garbage", now=1000) is None and codec.read(None) is None
    assert SessionCodec(b"j" * 32, 3600).read(cookie, now=1000) is None
    assert codec.read(cookie, now=1000 + 3601) is None, "expired"
    assert codec.read(cookie, now=999) is None, "issued in the future"
    assert SessionCodec(None, 60).read(cookie, now=1000) is None, "a random key per process"


def test_csrf_tokens_belong_to_one_session() -> None:
    codec = SessionCodec(b"k" * 32, 3600)
    one, _ = codec.issue(TOKEN)
    two, _ = codec.issue(TOKEN)
    assert codec.check_csrf(one, codec.csrf(one))
    assert not codec.check_csrf(one, codec.csrf(two))
    assert not codec.check_csrf(one, None) and not codec.check_csrf(one, "")


def test_signing_out_ends_the_session_and_is_forgotten_after_expiry() -> None:
    codec = SessionCodec(b"k" * 32, 100)
    session, cookie = codec.issue(TOKEN, now=1000)
    other, other_cookie = codec.issue(TOKEN, now=1000)
    codec.end(session, now=1001)
    assert codec.read(cookie, now=1002) is None
    assert codec.read(other_cookie, now=1002) == other
    later, _ = codec.issue(TOKEN, now=2000)
    codec.end(later, now=2000)
    assert session.sid not in codec._ended, "ended sessions are kept only until they expire"


def test_csrf_and_cookies_of_any_text_are_refused_not_fatal() -> None:
    codec = SessionCodec(b"k" * 32, 3600)
    session, cookie = codec.issue(TOKEN, now=1000)
    good = codec.csrf(session)
    # hmac.compare_digest raises TypeError for a str with non-ASCII characters
    for value in ("é", good[:-1] + "é", "\udcff", "😀" * 100, good + "\x00"):
        assert codec.check_csrf(session, value) is False
    assert codec.check_csrf(session, good)
    payload, mac = cookie.split(".")
    for forged in (f"{payload}.é", f"é.{mac}", f"{payload}\udcff.{mac}", "é.é"):
        assert codec.read(forged, now=1000) is None
