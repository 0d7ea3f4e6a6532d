"""The Kafka wire contract, written once below the hub and the connectors.

Topic names, record header names, the agencies' principal and consumer-group
names, and the record-size headroom. ``hub`` and ``connectors`` both import
this module; neither keeps a copy, so a rename cannot silently break one side.
docs/wire-format.md and docs/kafka-security.md describe the same names for
people; the AsyncAPI document (``/asyncapi.json``) for machines.
"""

from __future__ import annotations

# -- topics ------------------------------------------------------------------------------

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
#: Every topic an agency's inbox uses starts with this.
INBOX_PREFIX = "edoc.inbox."


def inbox(agency_code: str) -> str:
    """The inbox topic of an agency: ``edoc.inbox.<code>``."""
    return INBOX_PREFIX + agency_code


def agency_of_inbox(topic: str) -> str | None:
    """The agency code of an inbox topic, or None for other topics."""
    return topic[len(INBOX_PREFIX) :] if topic.startswith(INBOX_PREFIX) else None


# -- record headers (values are UTF-8 strings; FastStream decodes them as text) ----------

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
#: The hub-signed original receive time of a reprocessed package (hub.router.decide.tickets).
H_REPROCESS_TICKET = "edoc-reprocess-ticket"
# Set on a parked record (edoc.deadletter): which service parked it, why, and from where.
H_DLQ_SERVICE = "edoc-dlq-service"
H_DLQ_ERROR = "edoc-dlq-error"
H_DLQ_TOPIC = "edoc-dlq-topic"
H_DLQ_PARTITION = "edoc-dlq-partition"
H_DLQ_OFFSET = "edoc-dlq-offset"
H_DLQ_PARKED_AT = "edoc-dlq-parked-at"

# -- principals and consumer groups of agencies (docs/kafka-security.md) -----------------

#: An agency's SCRAM user is this followed by its code in lower case.
AGENCY_USER_PREFIX = "agency-"


def agency_user(code: str) -> str:
    """SCRAM user name of an agency: ``agency-`` + its code in lower case.

    Lower case because Strimzi names the user after its KafkaUser resource, and
    Kubernetes names cannot hold capitals; codes differ in more than case, so no
    two agencies share a name.
    """
    return AGENCY_USER_PREFIX + code.lower()


def agency_group_prefix(code: str) -> str:
    """Consumer groups an agency may use start with this (``agency-<code>.``)."""
    return agency_user(code) + "."


def agency_group(code: str, purpose: str) -> str:
    """A consumer group the agency's ACLs allow: ``agency-<code lower>.<purpose>``."""
    return agency_group_prefix(code) + purpose


def agency_of_user(name: str) -> str | None:
    """The agency code (upper case) of an agency user name, or None for other users."""
    if not name.startswith(AGENCY_USER_PREFIX):
        return None
    return name[len(AGENCY_USER_PREFIX) :].upper()


# -- record sizes ------------------------------------------------------------------------

#: The hub's default largest package (``EDOC_MAX_PACKAGE_BYTES``).
DEFAULT_MAX_PACKAGE_BYTES = 16 * 1024 * 1024
#: Room for record headers and the verdict's report above a package of the largest size.
RECORD_HEADROOM = 1024 * 1024


def record_limit(max_package_bytes: int = DEFAULT_MAX_PACKAGE_BYTES) -> int:
    """Largest record a client writes or reads: a package plus headroom for headers."""
    return max_package_bytes + RECORD_HEADROOM
