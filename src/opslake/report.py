"""Run summary: small aggregates queried from the lake, printed by the CLI and rendered to HTML.

Only aggregates reach the driver (a few hundred rows at most); charts are PNGs embedded in one file.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from opslake.config import Settings
from opslake.jobs.common import TELEMETRY_SOURCES, analytics_table, telemetry_table
from opslake.pipeline import PipelineRun

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ANALYTICS_TABLES = (
    "placements", "placement_runs", "anomaly_features", "anomaly_models", "anomalies",
    "carbon_usage", "carbon_daily", "carbon_recommendations",
)  # fmt: skip


@dataclass
class Summary:
    """What a person wants to see after a run."""

    table_rows: dict[str, int] = field(default_factory=dict)
    ingest: pd.DataFrame = field(default_factory=pd.DataFrame)
    placement: pd.DataFrame = field(default_factory=pd.DataFrame)
    anomaly: dict[str, Any] = field(default_factory=dict)
    anomaly_by_type: pd.DataFrame = field(default_factory=pd.DataFrame)
    carbon_by_provider: pd.DataFrame = field(default_factory=pd.DataFrame)
    carbon_daily: pd.DataFrame = field(default_factory=pd.DataFrame)
    recommendations: pd.DataFrame = field(default_factory=pd.DataFrame)
    timings: dict[str, float] = field(default_factory=dict)


def collect_summary(spark: SparkSession, settings: Settings, run: PipelineRun) -> Summary:
    """Query the aggregates the summary shows."""
    summary = Summary(timings=dict(run.timings))
    names = [telemetry_table(settings, s) for s in (*TELEMETRY_SOURCES, "rejects")]
    names += [analytics_table(settings, t) for t in ANALYTICS_TABLES]
    for name in names:
        if spark.catalog.tableExists(name):
            summary.table_rows[name] = spark.table(name).count()
    summary.ingest = pd.DataFrame(
        [{"source": r.job.removeprefix("ingest."), **{k: r.metrics.get(k) for k in
          ("rows_in", "accepted", "rejected")}} for r in run.results if r.job.startswith("ingest.")]
    )  # fmt: skip
    runs = analytics_table(settings, "placement_runs")
    summary.placement = spark.sql(
        f"SELECT pool_id, SUM(nodes_used) AS nodes_used, SUM(lower_bound) AS lower_bound, "
        f"ROUND(AVG(cpu_utilisation), 3) AS cpu_util, ROUND(SUM(cost_per_hour), 2) AS cost_per_hour "
        f"FROM {runs} GROUP BY pool_id ORDER BY nodes_used DESC"
    ).toPandas()
    for result in run.results:
        if result.job == "anomaly_score":
            summary.anomaly = dict(result.metrics)
    anomalies = analytics_table(settings, "anomalies")
    labels = telemetry_table(settings, "anomaly_labels")
    summary.anomaly_by_type = spark.sql(
        f"SELECT l.anomaly_type, COUNT(*) AS labelled, "
        f"SUM(CASE WHEN a.is_anomaly THEN 1 ELSE 0 END) AS detected "
        f"FROM (SELECT DISTINCT node_id, ts, anomaly_type FROM {labels}) l "
        f"JOIN {anomalies} a ON a.node_id = l.node_id AND a.ts = l.ts "
        f"GROUP BY l.anomaly_type ORDER BY l.anomaly_type"
    ).toPandas()
    daily = analytics_table(settings, "carbon_daily")
    summary.carbon_by_provider = spark.sql(
        f"SELECT provider, ROUND(SUM(total_kwh), 1) AS kwh, "
        f"ROUND(SUM(total_gco2e) / 1000, 2) AS kgco2e, ROUND(SUM(vcpu_hours), 0) AS vcpu_hours, "
        f"ROUND(SUM(total_gco2e) / SUM(vcpu_hours), 3) AS sci_g_per_vcpu_hour "
        f"FROM {daily} GROUP BY provider ORDER BY kgco2e DESC"
    ).toPandas()
    summary.carbon_daily = spark.sql(
        f"SELECT dt, provider, SUM(total_gco2e) / 1000 AS kgco2e FROM {daily} "
        f"GROUP BY dt, provider ORDER BY dt, provider"
    ).toPandas()
    recs = analytics_table(settings, "carbon_recommendations")
    summary.recommendations = spark.sql(
        f"SELECT workload_id, kind, current, suggested, ROUND(saving_gco2e, 1) AS saving_gco2e, "
        f"ROUND(saving_pct, 1) AS saving_pct FROM {recs} ORDER BY saving_gco2e DESC LIMIT 10"
    ).toPandas()
    return summary


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def charts(summary: Summary) -> dict[str, str]:
    """Base64 PNG charts keyed by title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    if not summary.placement.empty:
        top = summary.placement.head(15)
        fig, ax = plt.subplots(figsize=(9, 4))
        x = range(len(top))
        ax.bar([i - 0.2 for i in x], top["nodes_used"], width=0.4, label="nodes used")
        ax.bar([i + 0.2 for i in x], top["lower_bound"], width=0.4, label="lower bound")
        ax.set_xticks(list(x), top["pool_id"], rotation=60, ha="right", fontsize=7)
        ax.legend()
        ax.set_title("Placement: nodes used vs lower bound (summed over days)")
        out["placement"] = _png(fig)
        plt.close(fig)
    if not summary.carbon_daily.empty:
        pivot = summary.carbon_daily.pivot(index="dt", columns="provider", values="kgco2e")
        fig, ax = plt.subplots(figsize=(9, 4))
        pivot.plot.bar(stacked=True, ax=ax)
        ax.set_ylabel("kgCO2e")
        ax.set_title("Carbon by provider and day")
        out["carbon"] = _png(fig)
        plt.close(fig)
    if not summary.anomaly_by_type.empty:
        frame = summary.anomaly_by_type.set_index("anomaly_type")
        fig, ax = plt.subplots(figsize=(7, 3.5))
        frame[["labelled", "detected"]].plot.bar(ax=ax)
        ax.set_title("Anomalies: labelled points vs detected, by injected type")
        out["anomaly"] = _png(fig)
        plt.close(fig)
    return out


def write_json(summary: Summary, path: Path) -> Path:
    """Machine-readable summary (rows per table as Spark counted them, ingest reconciliation, timings)."""
    payload = {
        "table_rows": summary.table_rows,
        "ingest": summary.ingest.to_dict(orient="records"),
        "anomaly": summary.anomaly,
        "timings_s": summary.timings,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def render_html(summary: Summary, path: Path) -> Path:
    """Write a self-contained HTML report."""
    parts = ["<h1>opslake run report</h1>"]
    rows = pd.DataFrame(sorted(summary.table_rows.items()), columns=["table", "rows"])
    sections: list[tuple[str, pd.DataFrame]] = [
        ("Rows per table", rows),
        ("Ingest (rows in = accepted + rejected)", summary.ingest),
        ("Placement by pool", summary.placement),
        ("Anomaly detection by injected type", summary.anomaly_by_type),
        ("Carbon by provider", summary.carbon_by_provider),
        ("Top carbon recommendations", summary.recommendations),
    ]
    images = charts(summary)
    if summary.anomaly:
        metrics = {k: summary.anomaly.get(k) for k in ("precision", "recall", "f1", "flagged")}
        parts.append(f"<p>Anomaly quality (point level): {html.escape(str(metrics))}</p>")
    for title, frame in sections:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(frame.to_html(index=False, border=0) if not frame.empty else "<p>none</p>")
    for title, data in images.items():
        parts.append(
            f"<h2>{title.title()}</h2><img alt='{title}' src='data:image/png;base64,{data}'>"
        )
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in summary.timings.items())
    parts.append(f"<p>Step timings: {html.escape(timing)}</p>")
    style = "body{font-family:sans-serif;max-width:1000px;margin:2em auto} td,th{padding:2px 8px}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!doctype html><meta charset='utf-8'><title>opslake report</title>"
                    f"<style>{style}</style>{''.join(parts)}")  # fmt: skip
    return path
