"""What every job shares: table names, the result record, and small Spark helpers."""

from __future__ import annotations

from dataclasses import dataclass, field

from opslake.config import Settings

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
