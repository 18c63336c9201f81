"""OpenLineage events for every job: START, then COMPLETE or FAIL, with input and output datasets.

The transport is configuration: ``file`` appends JSON lines to ``out/lineage.jsonl`` (embedded profile),
``http`` posts to Marquez (stack profile). Dataset namespaces are the storage/catalog locations, so the
graph reads raw landing files -> telemetry tables -> analytics tables.

Lineage never breaks a run: an event the transport cannot deliver is logged, counted
(``LineageRecorder.counts``) and kept in a local spool (``settings.lineage_spool_file``) that
``replay_spool`` / ``opslake lineage replay`` sends later, in order.

A job launched by an Airflow task gets that task's run as its OpenLineage parent
(``OPENLINEAGE_PARENT_ID`` / ``OPENLINEAGE_ROOT_PARENT_ID``, ``opslake.lineage.parent``).
"""

from opslake.lineage.parent import ParentRun, RunRef, parent_from_env, parse_run_ref
from opslake.lineage.recorder import PRODUCER, LineageCounts, LineageRecorder
from opslake.lineage.spool import Spool, replay, replay_spool
from opslake.lineage.transport import FileSender, HttpSender, Sender, make_sender

__all__ = [
    "PRODUCER",
    "FileSender",
    "HttpSender",
    "LineageCounts",
    "LineageRecorder",
    "ParentRun",
    "RunRef",
    "Sender",
    "Spool",
    "make_sender",
    "parent_from_env",
    "parse_run_ref",
    "replay",
    "replay_spool",
]
