"""Every word the templates use exists in Vietnamese and English; languages are negotiated."""

from __future__ import annotations

import re
from pathlib import Path

from hub.console import i18n
from schemas.reasons import Reason

TEMPLATES = Path(i18n.__file__).resolve().parent / "templates"


def test_every_template_key_is_translated() -> None:
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""t\('([a-z_.0-9]+)'""", template.read_text()))
    assert used, "the templates use t('…')"
    dynamic = {k for k in used if k.endswith(".")}  # e.g. t('level.' ~ a.level)
    missing = sorted(used - dynamic - i18n.TEXT.keys())
    assert not missing, f"add to hub/console/i18n.py: {missing}"
    for key, (vi, en) in i18n.TEXT.items():
        assert vi.strip() and en.strip(), key


def test_every_reason_code_has_words_in_both_languages() -> None:
    codes = {r.value for r in Reason} - {"ok"}
    assert codes <= i18n.REASONS.keys(), codes - i18n.REASONS.keys()
    assert i18n.reason_text("vi", "bad_signature") == "chữ ký không hợp lệ"
    assert i18n.reason_text("en", "bad_signature") == "invalid signature"
    assert i18n.reason_text("en", "new_code") == "new_code"


def test_levels_and_kinds_used_dynamically_exist() -> None:
    for level in ("province", "department", "district", "commune", "unit"):
        assert f"level.{level}" in i18n.TEXT
    for kind in ("document", "status", "register"):
        assert f"kind.{kind}" in i18n.TEXT
    for key in ("e_documents", "signature_use", "scanned", "officials", "level4"):
        assert f"cov.{key}" in i18n.TEXT


def test_language_choice_cookie_then_browser_then_vietnamese() -> None:
    assert i18n.negotiate("en", "vi-VN") == "en"
    assert i18n.negotiate(None, "en-US,en;q=0.9") == "en"
    assert i18n.negotiate("fr", "fr-FR, de") == "vi"
    assert i18n.negotiate(None, None) == "vi"
    t = i18n.translator("en")
    assert t("rej.done", ref="edoc.rejected/0/1", pos="edoc.submit/0/9").startswith("Submitted")
    assert t("no.such.key") == "no.such.key"
