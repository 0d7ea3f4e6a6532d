"""Every setting is documented, and the environment is what configures it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_setting_is_in_the_configuration_doc() -> None:
    text = DOC.read_text()
    missing = [n for n in Settings.model_fields if f"`EDOC_{n.upper()}`" not in text]
    assert not missing, f"document these in docs/configuration.md: {missing}"


def test_settings_come_from_edoc_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDOC_KAFKA_BOOTSTRAP", "10.0.0.1:9092")
    monkeypatch.setenv("EDOC_TRUST_ANCHORS", '["/etc/edoc/root.pem"]')
    monkeypatch.setenv("EDOC_MAX_PACKAGE_BYTES", "1048576")
    s = Settings()
    assert s.kafka_bootstrap == "10.0.0.1:9092"
    assert s.trust_anchors == [Path("/etc/edoc/root.pem")]
    assert s.max_package_bytes == 1_048_576
