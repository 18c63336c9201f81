"""OpenLineage events for every job: START, then COMPLETE or FAIL, with input and output datasets.

The transport is configuration: ``file`` appends JSON lines to ``out/lineage.jsonl`` (embedded profile),
``http`` posts to Marquez (stack profile). Dataset namespaces are the storage/catalog locations, so the
graph reads raw landing files -> telemetry tables -> analytics tables.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import HttpConfig, HttpTransport
from openlineage.client.transport.transport import Transport

from opslake.config import Settings
from opslake.exceptions import ConfigError

logger = logging.getLogger(__name__)

PRODUCER = "https://github.com/opslake/opslake"


def make_client(settings: Settings) -> OpenLineageClient:
    """An OpenLineage client with the transport the settings name."""
    transport: Transport
    if settings.lineage_transport == "file":
        settings.lineage_file.parent.mkdir(parents=True, exist_ok=True)
        transport = FileTransport(FileConfig(log_file_path=str(settings.lineage_file), append=True))
    elif settings.lineage_transport == "http":
        transport = HttpTransport(HttpConfig(url=settings.lineage_url, timeout=5.0))
    else:
        raise ConfigError(f"unknown lineage transport {settings.lineage_transport!r}")
    return OpenLineageClient(transport=transport)


class LineageRecorder:
    """Emits job-level run events for one pipeline run."""

    def __init__(self, settings: Settings, client: OpenLineageClient | None = None) -> None:
        self.namespace = settings.lineage_namespace
        self.catalog_ns = f"iceberg://{settings.catalog_name}"
        self.raw_ns = settings.raw_root.rstrip("/")
        self.client = client or make_client(settings)

    def table(self, name: str) -> str:
        """Dataset name of an Iceberg table, e.g. ``telemetry.node_metrics``."""
        return name.split(".", 1)[1] if name.count(".") == 2 else name

    @contextmanager
    def run(
        self,
        job: str,
        inputs: Sequence[str],
        outputs: Sequence[str],
        raw_inputs: Sequence[str] = (),
        raw_outputs: Sequence[str] = (),
    ) -> Iterator[str]:
        """Context manager: START on entry, COMPLETE on success, FAIL (and re-raise) on error.

        ``inputs``/``outputs`` are catalog table names; ``raw_*`` are landing paths relative to raw.
        """
        run_id = str(uuid.uuid4())
        ins = [InputDataset(namespace=self.catalog_ns, name=self.table(t)) for t in inputs]
        ins += [InputDataset(namespace=self.raw_ns, name=p) for p in raw_inputs]
        outs = [OutputDataset(namespace=self.catalog_ns, name=self.table(t)) for t in outputs]
        outs += [OutputDataset(namespace=self.raw_ns, name=p) for p in raw_outputs]
        self._emit(RunState.START, job, run_id, ins, outs)
        try:
            yield run_id
        except BaseException:
            self._emit(RunState.FAIL, job, run_id, ins, outs)
            raise
        self._emit(RunState.COMPLETE, job, run_id, ins, outs)

    def _emit(
        self,
        state: RunState,
        job: str,
        run_id: str,
        inputs: list[InputDataset],
        outputs: list[OutputDataset],
    ) -> None:
        event = RunEvent(
            eventType=state,
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=run_id),
            job=Job(namespace=self.namespace, name=job),
            producer=PRODUCER,
            inputs=inputs,
            outputs=outputs,
        )
        self.client.emit(event)
