"""Land the generator's batch of one data interval (the first task of ``telemetry_ingest``).

The generator makes whole days: a run generates the day its interval starts in (seeded by the setting
``seed`` and the date, so every interval of a day sees the same day) and lands the rows whose timestamp
falls in ``[start, end)``; node pools, a snapshot without timestamps, land under the day. File names carry
the interval, so a retried or re-run interval overwrites its own files and never duplicates rows.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from opslake.config import Settings
from opslake.jobs.common import JobResult

if TYPE_CHECKING:
    from collections.abc import Iterable

    from opslake.lake.landing import LandedFile
    from opslake.quality.gate import GateResult

DEFAULT_NODES = 200
DEFAULT_WORKLOADS_PER_DAY = 300


def day_seed(seed: int, day: dt.date) -> int:
    """Generator seed of ``day``: fixed per (setting, date), different across dates."""
    return (seed * 1_000_003 + day.toordinal()) % 2**32


def batch_id(start: dt.datetime, end: dt.datetime) -> str:
    """Batch id (landing file name part) of the interval ``[start, end)``."""
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    return f"gen-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}"


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
    batch = batch_id(start, end)
    result = JobResult(job="land")
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    for source, (_schema, _keys, ts_column) in SOURCES.items():
        frame = getattr(telemetry, source)
        if ts_column:
            stamps = pd.to_datetime(frame[ts_column], utc=True)
            frame = frame[(stamps >= lo) & (stamps < hi)]
            part = batch
        else:
            part = f"gen-{day:%Y%m%d}"  # one snapshot per day, rewritten identically
        files = write_landing(frame, source, settings.raw_root, options, part, day.isoformat())
        result.rows_written[source] = len(frame)
        result.metrics[f"{source}_files"] = len(files)
    result.metrics["interval"] = f"{start.isoformat()}/{end.isoformat()}"
    return result


# Share of bad rows each row-level expectation of the gate tolerates (the row-level quarantine rejects
# those with a reason); more fails the batch.
MAX_BAD_SHARE = 0.05


def gate_interval(settings: Settings, start: dt.datetime, end: dt.datetime) -> GateResult:
    """Great-expectations gate on the interval's landed batch, before ingest writes anything.

    Every source's batch is judged by its suites (``opslake.quality.gate``): the table-level checks
    on the landed rows, and the reconciliation rows in = accepted + rejected on the row-level
    validation; each row-level expectation tolerates ``MAX_BAD_SHARE`` bad rows. The Data Docs site
    is rebuilt under ``<out_dir>/quality/data_docs/`` and its index is in the result. On failure
    the batch's files of every source move to ``<raw>/quarantine/<batch>/`` (the day's generator
    snapshot only if its own suite failed: earlier batches of the day share it) so no later ingest
    of the date picks them up; nothing accepted earlier is touched. The error names the tables, the expectations
    and the counts.

    Raises:
        QualityGateError: a suite failed (the batch is quarantined); ``error.result`` holds the
            ``GateResult``.
    """
    import dataclasses

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from opslake.lake.storage import StorageOptions, open_uri
    from opslake.quality.gate import (
        Failure,
        QualityGateError,
        TableResult,
        empty_frame,
        read_frame,
        run_gate,
    )
    from opslake.telemetry.schemas import SOURCES

    options = StorageOptions.from_settings(settings)
    batch = batch_id(start, end)
    files = batch_files(settings, start, end)
    frames: dict[str, pd.DataFrame] = {}
    unreadable: dict[str, TableResult] = {}
    for source, landed in files.items():
        contents = []
        for f in landed:  # an I/O error (storage down) propagates: no verdict, no quarantine
            fs, path = open_uri(f.uri, options)
            with fs.open_input_file(path) as stream:
                contents.append((f.uri, stream.read_buffer()))
        parts = []
        for uri, data in contents:
            try:
                parts.append(read_frame(pq.read_table(pa.BufferReader(data))))
            except (OSError, ValueError) as error:  # not Parquet, truncated: the file is bad
                failure = Failure("parquet_file_readable", "", None, f"error: {uri}: {error}")
                unreadable[source] = TableResult(f"telemetry.{source}", 0, 0, 0, 1, (failure,))
                break
        if source not in unreadable:
            frames[source] = pd.concat(parts, ignore_index=True) if parts else empty_frame(source)
    result = run_gate(
        frames, start, end, batch, tolerance=MAX_BAD_SHARE, quality_dir=settings.out_dir / "quality"
    )
    if unreadable:
        judged = {t.table: t for t in result.tables} | {t.table: t for t in unreadable.values()}
        ordered = tuple(judged[f"telemetry.{s}"] for s in SOURCES if f"telemetry.{s}" in judged)
        result = dataclasses.replace(result, tables=ordered)
    if not result.success:
        own = f"/part-{batch}.parquet"  # the batch's files; a day's snapshot is shared
        bad = [f for source, landed in files.items() for f in landed
               if f.uri.endswith(own) or not result.table(source).success]  # fmt: skip
        result = dataclasses.replace(result, quarantined=tuple(quarantine(settings, batch, bad)))
        raise QualityGateError(result.message(), result)
    return result


def batch_files(
    settings: Settings, start: dt.datetime, end: dt.datetime
) -> dict[str, list[LandedFile]]:
    """The landing files of the interval's batch, per source: its ``part-<batch>`` files (the
    generator's rows, or a drop's export, which lands under the interval's date and hour); for a
    source without timestamps that the batch did not bring, the day's generator snapshot."""
    from opslake.lake.landing import list_landing
    from opslake.lake.storage import StorageOptions
    from opslake.orchestration.submit import interval_dates
    from opslake.telemetry.schemas import SOURCES

    options = StorageOptions.from_settings(settings)
    day = start.astimezone(dt.UTC).date()
    found = {}
    for source, (_schema, _keys, ts_column) in SOURCES.items():
        landed = list_landing(settings.raw_root, source, options, interval_dates(start, end))
        own = [f for f in landed if f.uri.endswith(f"/part-{batch_id(start, end)}.parquet")]
        if not own and not ts_column:
            snapshot = f"/dt={day.isoformat()}/hour=00/part-{_snapshot_id(day)}.parquet"
            own = [f for f in landed if f.uri.endswith(snapshot)]
        found[source] = own
    return found


def _snapshot_id(day: dt.date) -> str:
    """The part name ``land_interval`` gives the day's snapshot of a source without timestamps."""
    return f"gen-{day:%Y%m%d}"


def quarantine(settings: Settings, batch: str, files: Iterable[LandedFile]) -> list[str]:
    """Move ``files`` under ``<raw>/quarantine/<batch>/<source>/dt=…/hour=…/``; returns the new URIs."""
    from opslake.lake.storage import StorageOptions, join, open_uri

    options = StorageOptions.from_settings(settings)
    moved = []
    for landed in files:
        fs, path = open_uri(landed.uri, options)
        target = join(settings.raw_root, "quarantine", batch, landed.source,
                      f"dt={landed.dt}", f"hour={landed.hour:02d}", landed.uri.rsplit("/", 1)[-1])  # fmt: skip
        _, target_path = open_uri(target, options)
        fs.create_dir(target_path.rsplit("/", 1)[0], recursive=True)
        fs.move(path, target_path)
        moved.append(target)
    return moved
