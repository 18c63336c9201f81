"""Run summary: small aggregates queried from the lake, printed by the CLI and rendered to HTML.

Only aggregates reach the driver (a few hundred rows at most). The HTML report is rendered from the
Jinja2 template ``templates/report.html.j2`` (package data, autoescaped): every figure sits in a table
cell, trends are PNG charts embedded in the one file.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from opslake.config import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from opslake.pipeline import PipelineRun


@dataclass
class Summary:
    """What a person wants to see after a run."""

    table_rows: dict[str, int] = field(default_factory=dict)
    ingest: pd.DataFrame = field(default_factory=pd.DataFrame)
    placement: pd.DataFrame = field(default_factory=pd.DataFrame)
    anomaly: dict[str, Any] = field(default_factory=dict)
    anomaly_by_type: pd.DataFrame = field(default_factory=pd.DataFrame)
    anomaly_events: pd.DataFrame = field(default_factory=pd.DataFrame)
    carbon_by_provider: pd.DataFrame = field(default_factory=pd.DataFrame)
    carbon_daily: pd.DataFrame = field(default_factory=pd.DataFrame)
    recommendations: pd.DataFrame = field(default_factory=pd.DataFrame)
    timings: dict[str, float] = field(default_factory=dict)
    # Lineage events of the run by outcome (``dataclasses.asdict(LineageRecorder.counts)``), if known.
    lineage: dict[str, int] = field(default_factory=dict)


def collect_summary(spark: SparkSession, settings: Settings, run: PipelineRun) -> Summary:
    """Query the aggregates the summary shows."""
    from opslake.jobs.common import analytics_table, telemetry_table
    from opslake.pipeline.tables import TABLES

    summary = Summary(timings=dict(run.timings), lineage=dict(run.lineage))
    for name in (settings.table(*key.split(".")) for key in TABLES):
        if spark.catalog.tableExists(name):
            summary.table_rows[name] = spark.table(name).count()
    ingest: dict[str, Any] = next((r.metrics for r in run.results if r.job == "ingest"), {})
    summary.ingest = pd.DataFrame(
        [{"source": source, **counts} for source, counts in ingest.get("sources", {}).items()]
    )
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
    events = analytics_table(settings, "anomaly_events")
    if spark.catalog.tableExists(events):
        # Operators act on alerts, not rows: the strongest events of the run.
        summary.anomaly_events = spark.sql(
            f"SELECT node_id, metric, start_ts, end_ts, rows, ROUND(peak_score, 2) AS peak_score, "
            f"reason FROM {events} ORDER BY peak_score DESC, start_ts, node_id, metric LIMIT 20"
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


# Anomaly quality figures in reading order, with the label shown; other scalar metrics follow.
QUALITY_FIGURES = {
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "flagged": "Points flagged",
    "labelled": "Points labelled",
    "rows": "Points scored",
}


@dataclass(frozen=True)
class TableView:
    """A table ready for the template: formatted cells, and which columns are numeric."""

    key: str  # element id, e.g. "anomaly-quality"
    title: str
    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool]


def format_value(value: Any) -> str:
    """A cell's text: floats to 3 decimals, integers with thousands separators, missing as empty."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return f"{float(value):,.3f}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def frame_table(key: str, title: str, frame: pd.DataFrame) -> TableView:
    """A DataFrame as a TableView; a column is numeric when all its present values are numbers."""
    records = list(frame.itertuples(index=False, name=None))
    numeric = [
        bool(present) and all(_is_number(v) for v in present)
        for present in ([v for v in frame[c].tolist() if format_value(v)] for c in frame.columns)
    ]
    return TableView(
        key=key,
        title=title,
        columns=[str(c) for c in frame.columns],
        rows=[[format_value(v) for v in row] for row in records],
        numeric=numeric,
    )


def mapping_table(
    key: str, title: str, values: Mapping[str, Any], labels: Mapping[str, str], header: str
) -> TableView:
    """Scalar entries of ``values`` as (label, value) rows: ``labels``' keys first, in their order."""
    keys = [k for k in labels if k in values]
    keys += sorted(k for k in values if k not in labels)
    rows = [
        [labels.get(k, k), format_value(values[k])]
        for k in keys
        if values[k] is None or isinstance(values[k], numbers.Number | str)
    ]
    return TableView(
        key=key, title=title, columns=[header, "value"], rows=rows, numeric=[False, True]
    )


def report_tables(summary: Summary) -> dict[str, TableView]:
    """Every table of the report, keyed by element id."""
    rows = pd.DataFrame(sorted(summary.table_rows.items()), columns=["table", "rows"])
    timings = pd.DataFrame(list(summary.timings.items()), columns=["step", "seconds"])
    views = [
        frame_table("table-rows", "Rows per table", rows),
        frame_table("ingest", "Ingest (rows in = accepted + rejected)", summary.ingest),
        frame_table("placement", "Placement by pool", summary.placement),
        mapping_table(
            "anomaly-quality",
            "Anomaly quality (point level, against the injected labels)",
            summary.anomaly,
            QUALITY_FIGURES,
            "figure",
        ),
        frame_table(
            "anomaly-by-type", "Anomaly detection by injected type", summary.anomaly_by_type
        ),
        frame_table("anomaly-events", "Strongest alert events", summary.anomaly_events),
        frame_table("carbon-by-provider", "Carbon by provider", summary.carbon_by_provider),
        frame_table("recommendations", "Top carbon recommendations", summary.recommendations),
        mapping_table("lineage", "Lineage events", summary.lineage, {}, "outcome"),
        frame_table("timings", "Step timings", timings),
    ]
    return {view.key: view for view in views}


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("opslake", "templates"),
        autoescape=True,  # table cells hold workload ids, pool ids and error text from the data
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(summary: Summary, images: Mapping[str, str] | None = None) -> str:
    """The HTML report of ``summary``.

    Args:
        summary: the run's aggregates.
        images: base64 PNGs keyed by chart name (``placement``, ``anomaly``, ``carbon``); drawn from
            ``summary`` by ``charts`` when not given.

    Returns:
        One self-contained HTML document.
    """
    template = _environment().get_template("report.html.j2")
    return template.render(
        tables=report_tables(summary),
        images=charts(summary) if images is None else dict(images),
        lineage_spooled=summary.lineage.get("spooled", 0),
    )


def render_html(summary: Summary, path: Path) -> Path:
    """Write the self-contained HTML report of ``summary`` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(summary), encoding="utf-8")
    return path
