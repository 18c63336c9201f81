"""Every Iceberg table of the lake, declared once: its Arrow schema and how it is partitioned.

Arrow is the contract (pure code and Spark agree without importing pyspark); the Spark ``StructType`` of
a table is derived from it (``opslake.lake.tables.struct_of``), and every job ends in an explicit
``select`` against it (``conform``). Telemetry tables are the source schemas of
``opslake.telemetry.schemas`` plus the landing date ``dt``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from opslake.telemetry.schemas import REJECTS, SOURCES, TS

DT = pa.field("dt", pa.date32())


@dataclass(frozen=True)
class TableSpec:
    """One table: ``key`` is ``namespace.name`` inside the catalog."""

    key: str
    schema: pa.Schema
    partition_by: tuple[str, ...] = ("dt",)
    doc: str = ""
    # "hash" clusters rows by partition before writing (few files per date); "none" writes what each
    # task holds, for jobs whose tasks already hold whole dates (ingest).
    write_distribution: str = "hash"

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    @property
    def by_date(self) -> bool:
        """Whether runs replace whole logical dates (``dt``) of this table."""
        return "dt" in self.partition_by


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, kind) for name, kind in fields])


def _telemetry(source: str, doc: str) -> TableSpec:
    schema = SOURCES[source][0]
    # Nullability is enforced by validation; Iceberg columns stay nullable so a write never depends
    # on what Spark can prove about a column.
    fields = [pa.field(f.name, f.type) for f in schema]
    return TableSpec(f"telemetry.{source}", pa.schema([*fields, DT]), ("dt",), doc, "none")


F64, STR, I32, I64, BOOL = pa.float64(), pa.string(), pa.int32(), pa.int64(), pa.bool_()

NODE_METRICS = _telemetry("node_metrics", "5-minute utilisation per node")
WORKLOADS = _telemetry("workloads", "batch workloads to place, by submission date")
NODE_POOLS = _telemetry(
    "node_pools", "node pool snapshots; a run reads the latest snapshot on or before its date"
)
GRID_INTENSITY = _telemetry("grid_intensity", "hourly grid carbon intensity per region")
ANOMALY_LABELS = _telemetry("anomaly_labels", "injected anomalies (synthetic ground truth)")
REJECTS_TABLE = TableSpec(
    "telemetry.rejects",
    pa.schema([*REJECTS, DT]),
    ("source", "dt"),
    "every row that did not load, with its reason and the raw row as JSON",
    "none",
)

PLACEMENTS = TableSpec(
    "analytics.placements",
    _schema(
        ("dt", pa.date32()), ("workload_id", STR), ("pool_id", STR), ("node_index", I32),
        ("placed", BOOL), ("reason", STR), ("score", F64), ("algorithm", STR),
    ),
    doc="one row per workload: its pool and node, or why it was not placed",
)  # fmt: skip
PLACEMENT_RUNS = TableSpec(
    "analytics.placement_runs",
    _schema(
        ("dt", pa.date32()), ("pool_id", STR), ("algorithm", STR), ("workloads", I32),
        ("nodes_used", I32), ("lower_bound", I32), ("gap", F64), ("cpu_utilisation", F64),
        ("mem_utilisation", F64), ("cost_per_hour", F64), ("grid_gco2_per_kwh", F64),
    ),
    doc="one row per (date, pool): nodes used against the lower bound",
)  # fmt: skip

MODEL_FEATURES = ("cpu_util_dev", "mem_util_dev", "disk_util_dev", "net_mbps_dev")
ANOMALY_FEATURES = TableSpec(
    "analytics.anomaly_features",
    _schema(
        ("dt", pa.date32()), ("ts", TS), ("node_id", STR), ("provider", STR), ("region", STR),
        *[(c, F64) for c in MODEL_FEATURES],
    ),
    doc="what the anomaly models see: robust per-metric deviations per node and interval",
)  # fmt: skip
ANOMALY_MODELS = TableSpec(
    "analytics.anomaly_models",
    _schema(
        ("version", STR), ("scope", STR), ("trained_from", pa.date32()),
        ("trained_to", pa.date32()), ("n_rows", I64), ("threshold", F64), ("artifact_uri", STR),
    ),
    ("version",),
    "model registry: one row per (version, scope) with the artifact in object storage",
)  # fmt: skip
ANOMALIES = TableSpec(
    "analytics.anomalies",
    _schema(
        ("dt", pa.date32()), ("ts", TS), ("node_id", STR), ("provider", STR), ("region", STR),
        ("score", F64), ("is_anomaly", BOOL), ("top_metric", STR), ("model_version", STR),
    ),
    doc="anomaly score per node and interval",
)  # fmt: skip
ANOMALY_EVENTS = TableSpec(
    "analytics.anomaly_events",
    _schema(
        ("dt", pa.date32()), ("node_id", STR), ("provider", STR), ("region", STR), ("metric", STR),
        ("start_ts", TS), ("end_ts", TS), ("peak_ts", TS), ("peak_score", F64), ("rows", I64),
        ("reason", STR), ("detector_version", STR),
    ),
    doc="alerts: a node metric's consecutive exceedances merged into one event (dt = start date)",
)  # fmt: skip

EMISSION_COLUMNS = (
    "compute_kwh", "memory_kwh", "storage_kwh", "network_kwh", "total_kwh",
    "operational_gco2e", "embodied_gco2e", "total_gco2e",
)  # fmt: skip
CARBON_USAGE = TableSpec(
    "analytics.carbon_usage",
    _schema(
        ("dt", pa.date32()), ("hour", TS), ("node_id", STR), ("provider", STR), ("region", STR),
        ("vcpu_hours", F64), *[(c, F64) for c in EMISSION_COLUMNS],
        ("coefficients_version", STR),
    ),
    doc="CCF energy and emissions per node-hour",
)  # fmt: skip
CARBON_DAILY = TableSpec(
    "analytics.carbon_daily",
    _schema(
        ("dt", pa.date32()), ("provider", STR), ("region", STR), ("nodes", I64),
        ("vcpu_hours", F64), *[(c, F64) for c in EMISSION_COLUMNS],
        ("sci_gco2e_per_vcpu_hour", F64),
    ),
    doc="emissions per provider, region and day, with the SCI per vCPU-hour",
)  # fmt: skip
CARBON_RECOMMENDATIONS = TableSpec(
    "analytics.carbon_recommendations",
    _schema(
        ("dt", pa.date32()), ("workload_id", STR), ("kind", STR), ("current", STR),
        ("suggested", STR), ("current_gco2e", F64), ("suggested_gco2e", F64),
        ("saving_gco2e", F64), ("saving_pct", F64),
    ),
    doc="time- and location-shift advice for placed workloads",
)  # fmt: skip

TABLES: dict[str, TableSpec] = {
    t.key: t
    for t in (
        NODE_METRICS, WORKLOADS, NODE_POOLS, GRID_INTENSITY, ANOMALY_LABELS, REJECTS_TABLE,
        PLACEMENTS, PLACEMENT_RUNS, ANOMALY_FEATURES, ANOMALY_MODELS, ANOMALIES, ANOMALY_EVENTS,
        CARBON_USAGE, CARBON_DAILY, CARBON_RECOMMENDATIONS,
    )
}  # fmt: skip
