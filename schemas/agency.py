"""Agency identifier codes (QCVN 102:2016, Decision 20/2020/QĐ-TTg)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

#: ``ddd.dd.dd.Xnn`` — lowest level first, the top-level letter+number last. ASCII
#: digits only: ``\d`` would also take Arabic-Indic and full-width digits, codes
#: that look alike on screen but differ in every comparison.
AGENCY_CODE_RE = re.compile(r"^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}$")


def check_agency_code(value: str) -> str:
    """Return ``value`` if it is a well-formed agency code, else raise ``ValueError``."""
    if not AGENCY_CODE_RE.fullmatch(value):
        raise ValueError(
            f"agency code {value!r} is not of the form ddd.dd.dd.Xnn (e.g. 000.00.14.H49)"
        )
    return value


#: A validated agency code as a pydantic field type.
AgencyCode = Annotated[str, AfterValidator(check_agency_code)]
