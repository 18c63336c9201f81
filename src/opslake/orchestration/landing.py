"""Land the generator's batch of one data interval (the first task of ``telemetry_ingest``).

The generator makes whole days: a run generates the day its interval starts in (seeded by the setting
``seed`` and the date, so every interval of a day sees the same day) and lands the rows whose timestamp
falls in ``[start, end)``; node pools, a snapshot without timestamps, land under the day. File names carry
the interval, so a retried or re-run interval overwrites its own files and never duplicates rows.
"""

from __future__ import annotations

import datetime as dt

from opslake.config import Settings
from opslake.jobs.common import JobResult

DEFAULT_NODES = 200
DEFAULT_WORKLOADS_PER_DAY = 300


def day_seed(seed: int, day: dt.date) -> int:
    """Generator seed of ``day``: fixed per (setting, date), different across dates."""
    return (seed * 1_000_003 + day.toordinal()) % 2**32


def land_interval(
    settings: Settings,
    start: dt.datetime,
    end: dt.datetime,
    nodes: int = DEFAULT_NODES,
    workloads_per_day: int = DEFAULT_WORKLOADS_PER_DAY,
) -> JobResult:
    """Land the generated rows of ``[start, end)`` (UTC) in the raw zone; returns rows per source."""
    import pandas as pd

    from opslake.lake.landing import write_landing
    from opslake.lake.storage import StorageOptions
    from opslake.telemetry import GeneratorConfig, generate
    from opslake.telemetry.schemas import SOURCES

    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    day = start.date()
    config = GeneratorConfig(
        start=pd.Timestamp(day.isoformat(), tz="UTC"), days=1, nodes=nodes,
        workloads=workloads_per_day, seed=day_seed(settings.seed, day),
    )  # fmt: skip
    telemetry = generate(config)
    options = StorageOptions.from_settings(settings)
    batch = f"gen-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}"
    result = JobResult(job="land")
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    for source, (_schema, _keys, ts_column) in SOURCES.items():
        frame = getattr(telemetry, source)
        if ts_column:
            stamps = pd.to_datetime(frame[ts_column], utc=True)
            frame = frame[(stamps >= lo) & (stamps < hi)]
            batch_id = batch
        else:
            batch_id = f"gen-{day:%Y%m%d}"  # one snapshot per day, rewritten identically
        files = write_landing(frame, source, settings.raw_root, options, batch_id, day.isoformat())
        result.rows_written[source] = len(frame)
        result.metrics[f"{source}_files"] = len(files)
    result.metrics["interval"] = f"{start.isoformat()}/{end.isoformat()}"
    return result
