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


# The table the gate judges before ingest (one suite so far; the other sources follow the same path).
GATED_SOURCE = "node_metrics"
MAX_BAD_SHARE = 0.05


def gate_interval(settings: Settings, start: dt.datetime, end: dt.datetime) -> GateResult:
    """Great-expectations gate on the interval's landed batch, before ingest writes anything.

    The GX suite judges the batch as the table would hold it; each row-level expectation (keys,
    ranges, interval) tolerates ``MAX_BAD_SHARE`` bad rows, which the row-level validation of ingest
    rejects with a reason; the reconciliation rows in = accepted + rejected is checked on that
    validation. On failure the batch's files of every source move to
    ``<raw>/quarantine/<batch>/`` so no later ingest of the date picks them up (nothing accepted
    earlier is touched), and the error names the table, the expectations and the counts.

    Raises:
        QualityGateError: the suite failed (the batch is quarantined).
    """
    import pandas as pd
    import pyarrow.parquet as pq

    from opslake.lake.landing import list_landing
    from opslake.lake.storage import StorageOptions, open_uri
    from opslake.quality.gate import Failure, GateResult, QualityGateError, run_gate
    from opslake.quality.validation import validate

    options = StorageOptions.from_settings(settings)
    batch = batch_id(start, end)
    dates = sorted({start.astimezone(dt.UTC).date().isoformat()})
    files = [
        f for f in list_landing(settings.raw_root, GATED_SOURCE, options, dates)
        if f.uri.endswith(f"part-{batch}.parquet")
    ]  # fmt: skip
    frames = []
    for landed in files:
        fs, path = open_uri(landed.uri, options)
        frames.append(pq.read_table(path, filesystem=fs).to_pandas())
    raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    day = start.astimezone(dt.UTC).date()
    # Judged as the table would hold it (with its dt); a few bad rows are the quarantine's business,
    # more than MAX_BAD_SHARE of any check fails the batch.
    result = run_gate(raw.assign(dt=day), GATED_SOURCE, start, end, accepted=len(raw),
                      mostly=1.0 - MAX_BAD_SHARE)  # fmt: skip
    if result.success:
        # Reconciliation: the row-level validation accounts for every landed row.
        checked = validate(raw, GATED_SOURCE, batch, now=pd.Timestamp(end))
        if len(checked.accepted) + len(checked.rejects) != len(raw):
            result = GateResult(result.table, len(raw), result.evaluated + 1, (
                Failure("rows_in_equals_accepted_plus_rejected", "", None,
                        f"{len(raw)} in, {len(checked.accepted)} accepted, "
                        f"{len(checked.rejects)} rejected"),
            ))  # fmt: skip
    if not result.success:
        quarantine(settings, batch, dates)
        raise QualityGateError(f"{result.message()} (batch {batch} quarantined)")
    return result


def quarantine(settings: Settings, batch: str, dates: list[str]) -> list[str]:
    """Move every landing file of ``batch`` under ``<raw>/quarantine/<batch>/``; returns the new URIs."""
    from opslake.lake.landing import list_landing
    from opslake.lake.storage import StorageOptions, join, open_uri
    from opslake.telemetry.schemas import SOURCES

    options = StorageOptions.from_settings(settings)
    moved = []
    for source in SOURCES:
        for landed in list_landing(settings.raw_root, source, options, dates):
            if not landed.uri.endswith(f"part-{batch}.parquet"):
                continue
            fs, path = open_uri(landed.uri, options)
            target = join(settings.raw_root, "quarantine", batch, source,
                          f"dt={landed.dt}", f"hour={landed.hour:02d}", f"part-{batch}.parquet")  # fmt: skip
            _, target_path = open_uri(target, options)
            fs.create_dir(target_path.rsplit("/", 1)[0], recursive=True)
            fs.move(path, target_path)
            moved.append(target)
    return moved
