"""One rule for missing services and tools: fail on CI (``CI=true``), skip elsewhere.

CI installs and starts everything the suite needs, so a missing one there is a
broken setup, never a reason to skip; a developer without, say, Java can still
run the rest of the suite locally.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when running under CI (``CI=true``, ``1`` or ``yes``); read at each call."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str, reason: str) -> NoReturn:
    """Fail on CI, skip elsewhere, saying which service or tool is missing and why."""
    if in_ci():
        pytest.fail(f"{what} unavailable: {reason}", pytrace=False)
    pytest.skip(f"{what} unavailable: {reason}")
