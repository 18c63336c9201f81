"""Land a telemetry batch in the raw zone (what the ``telemetry_ingest`` DAG's first task does)."""

from __future__ import annotations

import pandas as pd

from opslake.config import Settings
from opslake.jobs.common import JobResult
from opslake.lake.landing import write_landing
from opslake.lake.storage import StorageOptions
from opslake.telemetry.generator import Telemetry


def run(settings: Settings, telemetry: Telemetry, batch_id: str, logical_date: str) -> JobResult:
    """Write every source of ``telemetry`` as partitioned Parquet; returns rows and files landed."""
    options = StorageOptions.from_settings(settings)
    result = JobResult(job="land")
    for source in ("node_pools", "node_metrics", "workloads", "grid_intensity", "anomaly_labels"):
        frame = getattr(telemetry, source)
        files = write_landing(frame, source, settings.raw_root, options, batch_id, logical_date)
        result.rows_written[source] = len(frame)
        result.metrics[f"{source}_files"] = len(files)
    return result


def run_external(
    settings: Settings, source: str, frame: pd.DataFrame, batch_id: str, arrived_at: pd.Timestamp
) -> int:
    """Land an untrusted external batch of ``source`` in its arrival hour; returns its row count."""
    options = StorageOptions.from_settings(settings)
    write_landing(frame, source, settings.raw_root, options, batch_id, arrived_at=arrived_at)
    return len(frame)
