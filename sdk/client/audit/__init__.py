"""The decision log: a local, append-only, hash-chained record of where each call's data went.

Every routed call appends one record (``audit.jsonl`` under ``$XDG_STATE_HOME/aiaas/audit``): the time, a sequence
number, what was asked (``call``: predict or explain), the model reference, the version and artifact sha256 that ran
(null when the cloud answered and the version is unknown), the privacy level and the source that set it, the route,
the reason code, the fallback chain, whether payload bytes left the device, to which endpoint (``scheme://host:port``
only) and how many. Never a payload value, never a header or token. Each record carries the sha256 of the one
before (``format`` explains the file format); ``sdk audit verify`` checks the chain, and with ``AIAAS_AUDIT_KEY``
signed checkpoints let ``verify --key`` tell a log replaced as a whole.

On by default (``AIAAS_AUDIT=0`` turns it off). A record of where data went is worth most when nobody planned to
need it: after an incident, or when a user asks whether their data ever left the device, and a log that must first
be switched on is rarely there then. Its cost is bounded: ``record()`` adds a microsecond or two to a call (the
writing happens on a background thread), records are ~400 bytes, and rotation caps the folder at ``max_bytes`` x
``max_files`` (4 MiB x 5 by default, about 50,000 calls). A write that fails (read-only home, full disk) never fails
the call: it is logged once as a warning and counted in the next record that can be written.

    log = open_log()                      # once, beside the client: shared per folder, a no-op when off
    log.record_decision(result.decision, model_ref="digits-cnn", version="1", artifact_sha256=sha,
                        privacy_source="call", sent_bytes=0, endpoint=None)
"""

from __future__ import annotations

from sdk.client.audit.config import AuditConfig, default_audit_dir
from sdk.client.audit.format import PRIVACY_SOURCES, endpoint_origin
from sdk.client.audit.verify import Problem, Verification, read_records, verify_log
from sdk.client.audit.writer import DecisionLog, open_log, record_decision

__all__ = [
    "PRIVACY_SOURCES",
    "AuditConfig",
    "DecisionLog",
    "Problem",
    "Verification",
    "default_audit_dir",
    "endpoint_origin",
    "open_log",
    "read_records",
    "record_decision",
    "verify_log",
]
