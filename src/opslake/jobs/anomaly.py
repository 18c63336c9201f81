"""Anomaly jobs: features per node (applyInPandas), one IsolationForest per scope trained in parallel
(applyInPandas), versioned model artifacts in object storage, scoring with a broadcast model (mapInPandas).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from opslake.anomaly import AnomalyModel, score, train, window_features
from opslake.anomaly.features import METRICS
from opslake.anomaly.model import from_bytes, to_bytes
from opslake.config import Settings
from opslake.jobs.common import JobResult, analytics_table, telemetry_table
from opslake.lake.storage import StorageOptions, join, open_uri
from opslake.lake.tables import ensure_table_ddl, replace_dates

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

KEY_DDL = "ts TIMESTAMP, node_id STRING, provider STRING, region STRING"
# The forest and its evidence rule read only the per-metric robust deviations; shipping just these
# between JVM and Python (instead of all window features) keeps the Arrow transfer small.
MODEL_COLUMNS = tuple(f"{m}_dev" for m in METRICS)
FEATURE_DDL = KEY_DDL + "".join(f", {c} DOUBLE" for c in MODEL_COLUMNS)
MODEL_DDL = "scope STRING, version STRING, n_rows BIGINT, threshold DOUBLE, model BINARY"
REGISTRY_DDL = (
    "version STRING, scope STRING, trained_at TIMESTAMP, n_rows BIGINT, threshold DOUBLE, "
    "artifact_uri STRING"
)
ANOMALY_DDL = (
    "dt DATE, ts TIMESTAMP, node_id STRING, provider STRING, region STRING, score DOUBLE, "
    "is_anomaly BOOLEAN, top_metric STRING, model_version STRING"
)
LOOKBACK = dt.timedelta(days=1)  # history read before the first date so rolling windows are warm


def features(spark: SparkSession, settings: Settings, dates: Sequence[str]) -> DataFrame:
    """Window features for every node on ``dates`` (computed with one day of look-back)."""
    from pyspark.sql import functions as F

    first = dt.date.fromisoformat(min(dates)) - LOOKBACK
    metrics = spark.table(telemetry_table(settings, "node_metrics")).where(
        (F.col("dt") >= F.lit(first.isoformat()).cast("date"))
        & (F.col("dt") <= F.lit(max(dates)).cast("date"))
    )
    columns = [c.split()[0] for c in FEATURE_DDL.split(", ")]

    def per_node(frame: pd.DataFrame) -> pd.DataFrame:
        return window_features(frame.sort_values("ts").reset_index(drop=True))[columns]

    feats: DataFrame = (
        metrics.drop("dt", "pool_id").groupBy("node_id").applyInPandas(per_node, FEATURE_DDL)
    )
    return feats.where(F.to_date("ts").isin(list(dates)))


def write_features(spark: SparkSession, settings: Settings, dates: Sequence[str]) -> DataFrame:
    """(Re)compute the model features of ``dates`` into ``analytics.anomaly_features``.

    Train and score both read this table, so the per-node window pass runs once per date, and
    analysts can see what the model saw.
    """
    from pyspark.sql import functions as F

    table = analytics_table(settings, "anomaly_features")
    ensure_table_ddl(spark, table, f"dt DATE, {FEATURE_DDL}")
    replace_dates(features(spark, settings, dates).withColumn("dt", F.to_date("ts")), table, dates)
    return spark.table(table).where(F.col("dt").isin(list(dates))).drop("dt")


def stored_features(spark: SparkSession, settings: Settings, dates: Sequence[str]) -> DataFrame:
    """Features of ``dates`` from the table, computing them first if any date is missing."""
    from pyspark.sql import functions as F

    table = analytics_table(settings, "anomaly_features")
    if spark.catalog.tableExists(table):
        stored = spark.table(table).where(F.col("dt").isin(list(dates)))
        present = {str(r["dt"]) for r in stored.select("dt").distinct().collect()}
        if present >= set(dates):
            return stored.drop("dt")
    return write_features(spark, settings, dates)


def model_version(dates: Sequence[str], seed: int) -> str:
    """Deterministic per training window, so re-training the same dates replaces the same version."""
    return f"{min(dates)}_{max(dates)}_s{seed}"


def run_train(spark: SparkSession, settings: Settings, dates: Sequence[str]) -> JobResult:
    """Train one model per provider scope in parallel and publish versioned artifacts."""
    from pyspark.sql import functions as F

    version = model_version(dates, settings.seed)
    seed = settings.seed

    def train_scope(frame: pd.DataFrame) -> pd.DataFrame:
        scope = str(frame["provider"].iloc[0])
        model = train(frame, scope=scope, version=version, seed=seed)
        return pd.DataFrame(
            [{"scope": scope, "version": version, "n_rows": len(frame),
              "threshold": float(model.threshold), "model": to_bytes(model)}]
        )  # fmt: skip

    trained = (
        features(spark, settings, dates).groupBy("provider").applyInPandas(train_scope, MODEL_DDL)
    )
    # One small row per scope (a pickled forest of a few MB at most) comes back to be published.
    models = trained.collect()
    options = StorageOptions.from_settings(settings)
    now = dt.datetime.now(dt.UTC)
    registry_rows = []
    for row in models:
        uri = join(settings.models_root, "anomaly", version, f"{row['scope']}.pkl")
        _write_bytes(uri, bytes(row["model"]), options)
        registry_rows.append(
            (version, row["scope"], now, int(row["n_rows"]), float(row["threshold"]), uri)
        )
    registry = analytics_table(settings, "anomaly_models")
    # Partitioned by version so replacing a version is a partition overwrite (Iceberg cannot prove a
    # filter on long strings matches whole files: their column stats are truncated).
    ensure_table_ddl(spark, registry, REGISTRY_DDL, partition_by=("version",))
    frame = spark.createDataFrame(registry_rows, REGISTRY_DDL)
    frame.writeTo(registry).overwrite(F.col("version") == version)
    return JobResult(
        job="anomaly_train",
        rows_written={registry: len(registry_rows)},
        metrics={"version": version, "scopes": sorted(r[1] for r in registry_rows)},
    )


def load_models(spark: SparkSession, settings: Settings, version: str | None) -> dict[str, bytes]:
    """Artifacts of ``version`` (default: the latest trained) keyed by scope, read from storage."""
    from pyspark.sql import functions as F

    registry = spark.table(analytics_table(settings, "anomaly_models"))
    if version is None:
        latest = registry.orderBy(F.col("trained_at").desc()).select("version").first()
        if latest is None:
            raise LookupError("no anomaly model has been trained yet: run anomaly_train first")
        version = str(latest["version"])
    options = StorageOptions.from_settings(settings)
    rows = registry.where(F.col("version") == version).collect()
    return {str(r["scope"]): _read_bytes(str(r["artifact_uri"]), options) for r in rows}


ANOMALY_SCHEMA = pa.schema(
    [
        pa.field("dt", pa.date32()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("node_id", pa.string()),
        pa.field("provider", pa.string()),
        pa.field("region", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("is_anomaly", pa.bool_()),
        pa.field("top_metric", pa.string()),
        pa.field("model_version", pa.string()),
    ]
)


def score_arrow(
    batch: pa.RecordBatch, models: Mapping[str, AnomalyModel]
) -> Iterator[pa.RecordBatch]:
    """Score one Arrow batch of features with the model of each row's scope (provider).

    Only the numeric model columns become numpy arrays; keys pass through as Arrow arrays, so no
    Python string objects are created per row (that conversion dominated a pandas-based version).
    Rows of a scope unseen in training are skipped, not guessed.
    """
    providers = batch.column("provider")
    for scope in pc.unique(providers).to_pylist():
        model = models.get(str(scope))
        if model is None:
            continue
        part = batch.filter(pc.equal(providers, scope))
        numeric = pd.DataFrame(
            {c: part.column(c).to_numpy(zero_copy_only=False) for c in MODEL_COLUMNS}
        )
        scored = score(model, numeric)
        ts = part.column("ts")
        yield pa.RecordBatch.from_arrays(
            [
                pc.cast(ts, pa.date32()),
                ts,
                part.column("node_id"),
                part.column("provider"),
                part.column("region"),
                pa.array(scored["score"].to_numpy(), pa.float64()),
                pa.array(scored["is_anomaly"].to_numpy(), pa.bool_()),
                pa.array(scored["top_metric"].to_numpy(), pa.string()),
                pa.array([model.version] * part.num_rows, pa.string()),
            ],
            schema=ANOMALY_SCHEMA,
        )


def run_score(
    spark: SparkSession, settings: Settings, dates: Sequence[str], version: str | None = None
) -> JobResult:
    """Score every node-window of ``dates`` with the broadcast models; evaluate on labels if present."""
    from pyspark.sql import functions as F

    artifacts = load_models(spark, settings, version)
    broadcast = spark.sparkContext.broadcast(artifacts)

    def score_partition(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        models = {scope: from_bytes(blob) for scope, blob in broadcast.value.items()}
        for batch in batches:
            yield from score_arrow(batch, models)

    scored = stored_features(spark, settings, dates).mapInArrow(score_partition, ANOMALY_DDL)
    table = analytics_table(settings, "anomalies")
    ensure_table_ddl(spark, table, ANOMALY_DDL)
    replace_dates(scored, table, dates)
    written = spark.table(table).where(F.col("dt").isin(list(dates)))
    metrics = evaluate(spark, settings, written, dates)
    return JobResult(job="anomaly_score", rows_written={table: metrics["rows"]}, metrics=metrics)


def evaluate(
    spark: SparkSession, settings: Settings, scored: DataFrame, dates: Sequence[str]
) -> dict[str, Any]:
    """Point-level precision/recall/F1 of ``is_anomaly`` against the injected labels (aggregated in
    Spark; only four numbers reach the driver)."""
    from pyspark.sql import functions as F

    labels = (
        spark.table(telemetry_table(settings, "anomaly_labels"))
        .where(F.col("dt").isin(list(dates)))
        .select("node_id", "ts", F.lit(True).alias("label"))
        .distinct()
    )
    joined = scored.join(labels, on=["node_id", "ts"], how="left").fillna(False, subset=["label"])
    row = joined.agg(
        F.count("*").alias("rows"),
        F.sum((F.col("is_anomaly") & F.col("label")).cast("long")).alias("tp"),
        F.sum((F.col("is_anomaly") & ~F.col("label")).cast("long")).alias("fp"),
        F.sum((~F.col("is_anomaly") & F.col("label")).cast("long")).alias("fn"),
    ).first()
    assert row is not None
    tp, fp, fn = (int(row[k] or 0) for k in ("tp", "fp", "fn"))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "rows": int(row["rows"]), "flagged": tp + fp, "labelled": tp + fn,
        "precision": precision, "recall": recall, "f1": f1,
    }  # fmt: skip


def _write_bytes(uri: str, payload: bytes, options: StorageOptions) -> None:
    fs, path = open_uri(uri, options)
    if isinstance(fs, pafs.LocalFileSystem):
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(payload)


def _read_bytes(uri: str, options: StorageOptions) -> bytes:
    fs, path = open_uri(uri, options)
    with fs.open_input_stream(path) as src:
        return bytes(src.read())
