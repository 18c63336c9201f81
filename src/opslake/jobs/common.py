"""What every job shares: table names, the result record, and small Spark helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opslake.config import Settings

if TYPE_CHECKING:
    from pyspark.sql import Column

TELEMETRY_SOURCES = ("node_pools", "node_metrics", "workloads", "grid_intensity", "anomaly_labels")


def telemetry_table(settings: Settings, source: str) -> str:
    return settings.table("telemetry", source)


def analytics_table(settings: Settings, name: str) -> str:
    return settings.table("analytics", name)


@dataclass
class JobResult:
    """Row counts and headline figures a job reports back (printed in the summary)."""

    job: str
    rows_written: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, object] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


# Sums of doubles depend on the order Spark adds them in (i.e. on partitioning); sums of decimals do
# not. 38 digits with 12 after the point hold any telemetry total exactly enough (1e-12) and up to 1e26.
EXACT = "decimal(38,12)"


def exact_sum(column: str) -> Column:
    """``sum(column)`` that gives the same double whatever the partitioning."""
    from pyspark.sql import functions as F

    return F.sum(F.col(column).cast(EXACT)).cast("double")


def exact_mean(column: str) -> Column:
    """``avg(column)`` that gives the same double whatever the partitioning."""
    from pyspark.sql import functions as F

    return (F.sum(F.col(column).cast(EXACT)) / F.count(column)).cast("double")
