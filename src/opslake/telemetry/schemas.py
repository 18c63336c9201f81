"""Canonical schemas of the telemetry tables, as Arrow schemas (the contract) and Spark DDL derived from them.

Landing files and Iceberg tables use these column names and types; ``quality`` validates raw input against
them. Arrow is the source of truth so pure code and Spark agree without importing pyspark here.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

NODE_METRICS = pa.schema(
    [
        pa.field("ts", TS, nullable=False),
        pa.field("node_id", pa.string(), nullable=False),
        pa.field("pool_id", pa.string()),
        pa.field("provider", pa.string()),
        pa.field("region", pa.string()),
        pa.field("cpu_util", pa.float64()),  # fraction of allocatable vCPU in [0, 1]
        pa.field("mem_util", pa.float64()),  # fraction in [0, 1]
        pa.field("disk_util", pa.float64()),  # fraction in [0, 1]
        pa.field("net_mbps", pa.float64()),  # >= 0
    ]
)

WORKLOADS = pa.schema(
    [
        pa.field("workload_id", pa.string(), nullable=False),
        pa.field("submitted_at", TS, nullable=False),
        pa.field("cpu", pa.float64()),  # vCPU requested
        pa.field("memory_gb", pa.float64()),
        pa.field("gpu", pa.int32()),
        pa.field("duration_h", pa.float64()),
        pa.field("latency_sla_ms", pa.float64()),
        pa.field("allowed_regions", pa.string()),  # comma-separated; empty = anywhere
        pa.field("provider_preference", pa.string()),  # empty = none
        pa.field("priority", pa.int32()),
        pa.field("deferrable_hours", pa.int32()),
    ]
)

NODE_POOLS = pa.schema(
    [
        pa.field("pool_id", pa.string(), nullable=False),
        pa.field("provider", pa.string()),
        pa.field("region", pa.string()),
        pa.field("instance_type", pa.string()),
        pa.field("vcpus", pa.float64()),
        pa.field("memory_gb", pa.float64()),
        pa.field("gpu", pa.int32()),
        pa.field("price_per_hour", pa.float64()),
        pa.field("max_nodes", pa.int32()),
        pa.field("latency_ms", pa.float64()),
    ]
)

GRID_INTENSITY = pa.schema(
    [
        pa.field("ts", TS, nullable=False),  # start of the hour
        pa.field("provider", pa.string()),
        pa.field("region", pa.string(), nullable=False),
        pa.field("gco2_per_kwh", pa.float64()),
    ]
)

ANOMALY_LABELS = pa.schema(
    [
        pa.field("ts", TS, nullable=False),
        pa.field("node_id", pa.string(), nullable=False),
        pa.field("metric", pa.string()),
        pa.field("anomaly_type", pa.string()),
    ]
)

# Source name -> (schema, key columns that identify a row, timestamp column used for partitioning).
SOURCES: dict[str, tuple[pa.Schema, tuple[str, ...], str]] = {
    "node_metrics": (NODE_METRICS, ("node_id", "ts"), "ts"),
    "workloads": (WORKLOADS, ("workload_id",), "submitted_at"),
    "node_pools": (NODE_POOLS, ("pool_id",), ""),
    "grid_intensity": (GRID_INTENSITY, ("region", "ts"), "ts"),
    "anomaly_labels": (ANOMALY_LABELS, ("node_id", "ts", "metric"), "ts"),
}

UTILISATION_COLUMNS = ("cpu_util", "mem_util", "disk_util")

REJECTS = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("row_number", pa.int64()),
        pa.field("reason", pa.string()),
        pa.field("raw", pa.string()),  # the row as JSON, so nothing is lost
    ]
)


def spark_ddl(schema: pa.Schema) -> str:
    """Spark DDL string (``col TYPE, ...``) for an Arrow schema."""
    names = {
        pa.string(): "STRING",
        pa.float64(): "DOUBLE",
        pa.int32(): "INT",
        pa.int64(): "BIGINT",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
        TS: "TIMESTAMP",
    }
    return ", ".join(f"{f.name} {names[f.type]}" for f in schema)
