"""Job-level OpenLineage run events (START, then COMPLETE or FAIL) that never break a run.

Every emit is guarded: if the transport fails, the failure is logged once (WARNING, naming the
target), counted, and the event goes to the local spool for ``opslake lineage replay``. From then on
the recorder spools the rest of its events without trying the transport again, so an unreachable
Marquez costs one connect timeout per run, not per event, and the spool keeps every run's events in
order. Neither a transport nor a spool failure is ever raised over a committed job or a job's own error.

A run started by another run (a Spark job launched by an Airflow task) carries that run as its
``parent`` facet, with the root of the hierarchy (the DAG run): see ``opslake.lineage.parent``.
"""

from __future__ import annotations

import logging
import os
import traceback
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    RunFacet,
    column_lineage_dataset,
    error_message_run,
    schema_dataset,
)
from openlineage.client.serde import Serde

from opslake.config import Settings
from opslake.lineage.parent import ParentRun, parent_from_env
from opslake.lineage.spool import Spool
from opslake.lineage.transport import Sender, describe_failure, make_sender

logger = logging.getLogger(__name__)

PRODUCER = "https://github.com/opslake/opslake"
# Spark errors can carry megabytes of plan text; Marquez stores the facet in PostgreSQL.
MAX_ERROR_MESSAGE_CHARS = 2_000
MAX_STACK_TRACE_CHARS = 20_000


@dataclass
class LineageCounts:
    """What became of the events one recorder emitted."""

    sent: int = 0  # delivered by the transport
    spooled: int = 0  # kept in the spool for replay
    dropped: int = 0  # lost: the event could not be built, or the spool was not writable either


class LineageRecorder:
    """Emits job-level run events for one pipeline run (or one spark-submit job)."""

    def __init__(
        self,
        settings: Settings,
        sender: Sender | None = None,
        spool: Spool | None = None,
        parent: ParentRun | None = None,
    ) -> None:
        """Build a recorder for ``settings``.

        Args:
            settings: namespace, catalog, raw root, transport and spool location.
            sender: overrides the transport the settings name.
            spool: overrides the spool at ``settings.lineage_spool_file``.
            parent: the run that started this process's runs; by default the one handed down in
                ``OPENLINEAGE_PARENT_ID`` / ``OPENLINEAGE_ROOT_PARENT_ID`` (set by the Airflow task
                that spark-submits the job), if any. Every event then carries it as its ``parent``.

        Raises:
            ConfigError: when ``lineage_transport`` names no known transport.
        """
        self.namespace = settings.lineage_namespace
        self.catalog_ns = f"iceberg://{settings.catalog_name}"
        self.raw_ns = settings.raw_root.rstrip("/")
        self.sender = sender or make_sender(settings)
        self.spool = spool or Spool(settings.lineage_spool_file)
        self.counts = LineageCounts()
        self.parent = parent if parent is not None else parent_from_env(os.environ)
        self._spooling = False
        try:
            waiting = len(self.spool.read())
        except (OSError, ValueError):  # unreadable: the first append or replay will say why
            waiting = 0
        if waiting:
            logger.warning(
                "%d lineage events of earlier runs wait in %s: send them with `opslake lineage replay`",
                waiting,
                self.spool.path,
            )

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
        column_lineage: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        schemas: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    ) -> Iterator[str]:
        """Context manager: START on entry, COMPLETE on success, FAIL on error.

        The block's own exception propagates unchanged (after FAIL, with its message as the
        ``errorMessage`` run facet); lineage failures never raise.

        Args:
            job: job name in the lineage namespace.
            inputs: catalog table names read.
            outputs: catalog table names written.
            raw_inputs: landing paths (relative to the raw root) read.
            raw_outputs: landing paths written.
            column_lineage: per output table, per column, the ``<input table>.<column>`` names it
                is computed from (a ``columnLineage`` facet on that output).
            schemas: ``(column, type)`` per table, sent as ``schema`` facets (Marquez keeps column
                lineage only between fields it knows from a schema).

        Yields:
            The run id (a UUID string) shared by the run's events.
        """
        run_id = str(uuid.uuid4())
        known = schemas or {}
        columns = column_lineage or {}

        def facets(table: str) -> dict[str, DatasetFacet] | None:
            found: dict[str, DatasetFacet] = {}
            if table in known:
                found["schema"] = schema_dataset.SchemaDatasetFacet(
                    fields=[
                        schema_dataset.SchemaDatasetFacetFields(name=name, type=kind)
                        for name, kind in known[table]
                    ]
                )
            if table in columns:
                found.update(self._column_facets(columns[table]))
            return found or None

        ins = [
            InputDataset(namespace=self.catalog_ns, name=self.table(t), facets=facets(t))
            for t in inputs
        ]
        ins += [InputDataset(namespace=self.raw_ns, name=p) for p in raw_inputs]
        outs = [
            OutputDataset(namespace=self.catalog_ns, name=self.table(t), facets=facets(t))
            for t in outputs
        ]
        outs += [OutputDataset(namespace=self.raw_ns, name=p) for p in raw_outputs]
        self._emit(RunState.START, job, run_id, ins, outs)
        try:
            yield run_id
        except BaseException as exc:
            self._emit(RunState.FAIL, job, run_id, ins, outs, error=exc)
            raise
        self._emit(RunState.COMPLETE, job, run_id, ins, outs)

    def _column_facets(self, columns: Mapping[str, Sequence[str]]) -> dict[str, DatasetFacet]:
        fields = {
            column: column_lineage_dataset.Fields(
                inputFields=[
                    column_lineage_dataset.InputField(
                        namespace=self.catalog_ns,
                        name=self.table(source.rsplit(".", 1)[0]),
                        field=source.rsplit(".", 1)[1],
                    )
                    for source in sources
                ],
                transformationType="",
                transformationDescription="",
            )
            for column, sources in columns.items()
        }
        return {"columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields)}

    def deliver(self, event_json: str) -> None:
        """Send one serialised event, or spool it; never raises."""
        if not self._spooling:
            try:
                self.sender.send(event_json)
            except Exception as exc:  # any transport failure: the run goes on
                self._spooling = True
                logger.warning(
                    "%s; lineage events of this run go to %s (send them later with "
                    "`opslake lineage replay`)",
                    describe_failure(self.sender, exc),
                    self.spool.path,
                )
            else:
                self.counts.sent += 1
                return
        try:
            self.spool.append(event_json)
        except Exception as exc:  # the spool is the last resort: count the loss, keep the run
            self.counts.dropped += 1
            logger.error("lineage event lost: spool %s not writable: %s", self.spool.path, exc)
        else:
            self.counts.spooled += 1

    def _emit(
        self,
        state: RunState,
        job: str,
        run_id: str,
        inputs: list[InputDataset],
        outputs: list[OutputDataset],
        error: BaseException | None = None,
    ) -> None:
        try:
            event_json = Serde.to_json(self._event(state, job, run_id, inputs, outputs, error))
        except Exception:
            self.counts.dropped += 1
            logger.exception("could not build the lineage %s event of %s", state.value, job)
            return
        self.deliver(event_json)

    def _event(
        self,
        state: RunState,
        job: str,
        run_id: str,
        inputs: list[InputDataset],
        outputs: list[OutputDataset],
        error: BaseException | None,
    ) -> RunEvent:
        facets: dict[str, RunFacet] = {}
        if self.parent is not None:
            facets["parent"] = self.parent.facet()
        if error is not None:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=f"{type(error).__name__}: {error}"[:MAX_ERROR_MESSAGE_CHARS],
                programmingLanguage="python",
                stackTrace="".join(traceback.format_exception(error))[-MAX_STACK_TRACE_CHARS:],
            )
        return RunEvent(
            eventType=state,
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=run_id, facets=facets),
            job=Job(namespace=self.namespace, name=job),
            producer=PRODUCER,
            inputs=inputs,
            outputs=outputs,
        )
