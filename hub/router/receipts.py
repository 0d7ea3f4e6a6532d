"""Hub receipts: status packages the hub signs with its own key.

* status 01 — "arrived": one per recipient inbox a document was delivered to;
* status 02 — "rejected": with the reason codes, when the hub refuses a package.

Both go to the sender's inbox. Their ``message_id`` is derived from the
original message, the recipient and the status code (UUID v5), so an auditor
can link a receipt to its document without a lookup.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from schemas.header import Header, Kind, StatusCode, StatusInfo
from schemas.reasons import DESCRIPTIONS, Reason
from signing.signer import Signer, build_package

#: Namespace of receipt message ids (uuid5 of "<original id>/<recipient>/<code>").
RECEIPT_NAMESPACE = uuid.UUID("5d1f0c1e-6b8a-4f5e-9a57-0e4c2f6b8d31")


def receipt_id(original: uuid.UUID | str, recipient: str, code: StatusCode) -> uuid.UUID:
    """The deterministic id of a receipt."""
    return uuid.uuid5(RECEIPT_NAMESPACE, f"{original}/{recipient}/{code.value}")


def make_receipt(
    signer: Signer,
    *,
    hub_code: str,
    sender: str,
    original: uuid.UUID,
    code: StatusCode,
    at: datetime,
    recipient: str | None = None,
    reasons: list[Reason] | None = None,
) -> bytes:
    """A signed status package from the hub to ``sender`` about ``original``."""
    if code is StatusCode.ARRIVED:
        description = f"delivered to the inbox of {recipient}"
    else:
        description = "; ".join(DESCRIPTIONS[r] for r in reasons or []) or "refused"
    header = Header(
        message_id=receipt_id(original, recipient or sender, code),
        kind=Kind.STATUS,
        **{"from": hub_code},
        to=[sender],
        sent_at=at.replace(microsecond=0),
        status=StatusInfo(
            code=code,
            ref_message_id=original,
            description=description,
            reasons=[r.value for r in reasons or []],
            recipient=recipient,
        ),
    )
    return build_package(header, {}, [signer]).to_bytes()
