"""The one module that names Kafka topics and record headers."""

from __future__ import annotations

#: Agencies (through connectors) submit packages here; the router consumes it.
SUBMIT = "edoc.submit"
#: One verdict event per package (schemas.events.VerdictEvent).
EVENTS = "edoc.events"
#: Refused packages: original bytes as value, reasons in headers.
REJECTED = "edoc.rejected"
#: Signed checkpoints of the signature log.
CHECKPOINTS = "edoc.checkpoints"
#: Agency directory updates (compacted; key = agency code, value = Agency JSON).
DIRECTORY = "edoc.directory"
#: Operator actions taken in the console (e.g. reprocessing a rejected package), kept forever.
OPERATIONS = "edoc.operations"
#: Records a hub service could not process, parked with the error and where they came from
#: (value and key: the original record's; headers: the original's plus the H_DLQ_* below).
DEADLETTER = "edoc.deadletter"

_INBOX_PREFIX = "edoc.inbox."

# Record header names (values are UTF-8 strings; FastStream decodes them as text).
H_MESSAGE_ID = "edoc-message-id"
H_KIND = "edoc-kind"
H_PROFILE = "edoc-profile"
H_FROM = "edoc-from"
H_VERDICT = "edoc-verdict"
H_REASONS = "edoc-reasons"
H_PACKAGE_SHA256 = "edoc-package-sha256"
H_STATUS = "edoc-status"
H_REF_MESSAGE_ID = "edoc-ref-message-id"
# Set on a package an operator submitted again from edoc.rejected (who, and which record).
H_REPROCESS_OF = "edoc-reprocess-of"
H_REPROCESSED_BY = "edoc-reprocessed-by"
#: The hub-signed original receive time of a reprocessed package (hub/reprocess.py).
H_REPROCESS_TICKET = "edoc-reprocess-ticket"
# Set on a parked record (edoc.deadletter): which service parked it, why, and from where.
H_DLQ_SERVICE = "edoc-dlq-service"
H_DLQ_ERROR = "edoc-dlq-error"
H_DLQ_TOPIC = "edoc-dlq-topic"
H_DLQ_PARTITION = "edoc-dlq-partition"
H_DLQ_OFFSET = "edoc-dlq-offset"
H_DLQ_PARKED_AT = "edoc-dlq-parked-at"


def inbox(agency_code: str) -> str:
    """The inbox topic of an agency: ``edoc.inbox.<code>``."""
    return _INBOX_PREFIX + agency_code


def agency_of_inbox(topic: str) -> str | None:
    """The agency code of an inbox topic, or None for other topics."""
    return topic[len(_INBOX_PREFIX) :] if topic.startswith(_INBOX_PREFIX) else None
